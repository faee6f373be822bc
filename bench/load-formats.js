#!/usr/bin/env node
/**
 * Time and peak memory of loading weights files of any format, each run in a fresh child process:
 *
 *   loadWeights     every layer in memory as f32 OIHW (the floor: the weights' own size)
 *   loadClassifier  the streaming path: layers read on the loader thread, packed into the model one by one
 *
 * Peak RSS is the child's maxRSS (process.resourceUsage), minus its RSS before loading (Node, the addon).
 * Files: any weights files, e.g. the vgg16-sized Keras and Caffe files of the fixture scripts:
 *   /usr/bin/python3 scripts/keras/make-h5.py DIR vgg16 --layouts save
 *   /usr/bin/python3 scripts/caffe/make-caffemodel.py DIR vgg16 --variants v1
 *
 * Usage: npm run build && node bench/load-formats.js FILE... [--reps 3]
 */
'use strict';
const { fork } = require('child_process');
const fs = require('fs');

async function child(file, how) {
  const v = require('../dist');
  const base = process.memoryUsage().rss;
  const t0 = process.hrtime.bigint();
  let what;
  if (how === 'loadWeights') {
    const w = await v.loadWeights(file);
    what = `${w.config.name} (${w.format})`;
  } else {
    const c = await v.loadClassifier(file, { device: 'cpu' });
    what = `${c.model.config.name} (${c.source})`;
    c.model.dispose();
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  process.send({ ms, peakMB: (process.resourceUsage().maxRSS * 1024 - base) / 1e6, what });
}

function run(file, how) {
  return new Promise((resolve, reject) => {
    const c = fork(__filename, ['--child', file, how]);
    c.on('message', resolve);
    c.on('exit', (code) => code && reject(new Error(`${how} ${file}: exit ${code}`)));
  });
}

async function main() {
  const args = process.argv.slice(2);
  if (args[0] === '--child') return child(args[1], args[2]);
  const r = args.indexOf('--reps');
  const reps = r >= 0 ? Number(args.splice(r, 2)[1]) : 3;
  const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  for (const file of args) {
    const mb = fs.statSync(file).size / 1e6;
    for (const how of ['loadWeights', 'loadClassifier']) {
      const runs = [];
      for (let i = 0; i < reps; i++) runs.push(await run(file, how));
      console.log(
        `${file} (${mb.toFixed(0)} MB) ${runs[0].what} ${how.padEnd(14)} ${median(runs.map((x) => x.ms)).toFixed(0)} ms, ` +
          `peak RSS +${median(runs.map((x) => x.peakMB)).toFixed(0)} MB (${(median(runs.map((x) => x.peakMB)) / mb).toFixed(2)}× the file)`,
      );
    }
  }
}

main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
