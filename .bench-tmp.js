const tf = require('@tensorflow/tfjs');
const backend = process.argv[2] || 'cpu';
async function main() {
  if (backend === 'wasm') { require('@tensorflow/tfjs-backend-wasm'); }
  await tf.setBackend(backend); await tf.ready();
  console.log('backend', tf.getBackend(), 'threads', backend==='wasm'? require('@tensorflow/tfjs-backend-wasm').getThreadsCount?.():'');
  const m = tf.sequential();
  m.add(tf.layers.conv2d({inputShape:[28,28,1], filters:16, kernelSize:3, padding:'same', activation:'relu'}));
  m.add(tf.layers.maxPooling2d({poolSize:2, strides:2}));
  m.add(tf.layers.conv2d({filters:32, kernelSize:3, padding:'same', activation:'relu'}));
  m.add(tf.layers.maxPooling2d({poolSize:2, strides:2}));
  m.add(tf.layers.flatten());
  m.add(tf.layers.dense({units:128, activation:'relu'}));
  m.add(tf.layers.dropout({rate:0.5}));
  m.add(tf.layers.dense({units:128, activation:'relu'}));
  m.add(tf.layers.dropout({rate:0.5}));
  m.add(tf.layers.dense({units:10}));
  m.compile({optimizer: tf.train.adam(1e-3), loss: (y,p)=>tf.losses.softmaxCrossEntropy(y,p)});
  const x = tf.randomUniform([1024,28,28,1]); const y = tf.oneHot(tf.randomUniform([1024],0,10,'int32'),10).toFloat();
  let t=Date.now(); await m.fit(x,y,{batchSize:64, epochs:1, verbose:0}); console.log('1024 samples train ms', Date.now()-t);
  t=Date.now(); await m.fit(x,y,{batchSize:64, epochs:1, verbose:0}); console.log('1024 samples train ms', Date.now()-t);
}
main();
