/**
 * The part of Caffe's caffe.proto (BVLC/caffe src/caffe/proto/caffe.proto; numbers, types and defaults as
 * there) that the .caffemodel reader decodes with protobufjs. Left out on purpose: NetParameter's `layer`
 * (100) and `layers` (2), the layers' `blobs` (V2 7, V1 6) and BlobProto's `data` (5), `diff` (6),
 * `double_data` (8), `double_diff` (9): caffe.ts walks those in place (proto-walk.ts) so that weights are
 * read once, straight into their arrays. Unknown fields (fillers, learning rates, phases) are skipped.
 */
import * as protobuf from 'protobufjs';

export const CAFFE_SCHEMA = `
syntax = "proto2";
package caffe;

message BlobShape { repeated int64 dim = 1 [packed = true]; }

message BlobProto {
  optional BlobShape shape = 7;
  optional int32 num = 1 [default = 0];
  optional int32 channels = 2 [default = 0];
  optional int32 height = 3 [default = 0];
  optional int32 width = 4 [default = 0];
}

message ConvolutionParameter {
  optional uint32 num_output = 1;
  optional bool bias_term = 2 [default = true];
  repeated uint32 pad = 3;
  repeated uint32 kernel_size = 4;
  repeated uint32 stride = 6;
  repeated uint32 dilation = 18;
  optional uint32 pad_h = 9 [default = 0];
  optional uint32 pad_w = 10 [default = 0];
  optional uint32 kernel_h = 11;
  optional uint32 kernel_w = 12;
  optional uint32 stride_h = 13;
  optional uint32 stride_w = 14;
  optional uint32 group = 5 [default = 1];
  optional int32 axis = 16 [default = 1];
}

message InnerProductParameter {
  optional uint32 num_output = 1;
  optional bool bias_term = 2 [default = true];
  optional int32 axis = 5 [default = 1];
  optional bool transpose = 6 [default = false];
}

message PoolingParameter {
  enum PoolMethod { MAX = 0; AVE = 1; STOCHASTIC = 2; }
  optional PoolMethod pool = 1 [default = MAX];
  optional uint32 pad = 4 [default = 0];
  optional uint32 pad_h = 9 [default = 0];
  optional uint32 pad_w = 10 [default = 0];
  optional uint32 kernel_size = 2;
  optional uint32 kernel_h = 5;
  optional uint32 kernel_w = 6;
  optional uint32 stride = 3 [default = 1];
  optional uint32 stride_h = 7;
  optional uint32 stride_w = 8;
  optional bool global_pooling = 12 [default = false];
}

message ReLUParameter { optional float negative_slope = 1 [default = 0]; }

message LayerParameter {
  optional string name = 1;
  optional string type = 2;
  repeated string bottom = 3;
  repeated string top = 4;
  optional ConvolutionParameter convolution_param = 106;
  optional InnerProductParameter inner_product_param = 117;
  optional PoolingParameter pooling_param = 121;
  optional ReLUParameter relu_param = 123;
}

message V1LayerParameter {
  repeated string bottom = 2;
  repeated string top = 3;
  optional string name = 4;
  enum LayerType {
    NONE = 0; ABSVAL = 35; ACCURACY = 1; ARGMAX = 30; BNLL = 2; CONCAT = 3; CONTRASTIVE_LOSS = 37;
    CONVOLUTION = 4; DATA = 5; DECONVOLUTION = 39; DROPOUT = 6; DUMMY_DATA = 32; EUCLIDEAN_LOSS = 7;
    ELTWISE = 25; EXP = 38; FLATTEN = 8; HDF5_DATA = 9; HDF5_OUTPUT = 10; HINGE_LOSS = 28; IM2COL = 11;
    IMAGE_DATA = 12; INFOGAIN_LOSS = 13; INNER_PRODUCT = 14; LRN = 15; MEMORY_DATA = 29;
    MULTINOMIAL_LOGISTIC_LOSS = 16; MVN = 34; POOLING = 17; POWER = 26; RELU = 18; SIGMOID = 19;
    SIGMOID_CROSS_ENTROPY_LOSS = 27; SILENCE = 36; SOFTMAX = 20; SOFTMAX_LOSS = 21; SPLIT = 22; SLICE = 33;
    TANH = 23; WINDOW_DATA = 24; THRESHOLD = 31;
  }
  optional LayerType type = 5;
  optional ConvolutionParameter convolution_param = 10;
  optional InnerProductParameter inner_product_param = 17;
  optional PoolingParameter pooling_param = 19;
  optional ReLUParameter relu_param = 30;
}
`;

const root = protobuf.parse(CAFFE_SCHEMA, { keepCase: true }).root;
export const BlobProto = root.lookupType('caffe.BlobProto');
export const LayerParameter = root.lookupType('caffe.LayerParameter');
export const V1LayerParameter = root.lookupType('caffe.V1LayerParameter');

/** Field numbers of what is walked in place (caffe.proto). */
export const FIELD = Object.freeze({
  NET_LAYER: 100,
  NET_LAYERS_V1: 2,
  LAYER_BLOBS: 7,
  V1_BLOBS: 6,
  V1_V0_LAYER: 1,
  BLOB_DATA: 5,
  BLOB_DIFF: 6,
  BLOB_DOUBLE_DATA: 8,
  BLOB_DOUBLE_DIFF: 9,
});

/** V1 type enum → the V2 type string (caffe's upgrade_proto.cc UpgradeV1LayerType), for the types VGG uses;
 *  others keep their enum name. */
const V1_TYPES: Record<string, string> = {
  CONVOLUTION: 'Convolution',
  INNER_PRODUCT: 'InnerProduct',
  POOLING: 'Pooling',
  RELU: 'ReLU',
  DROPOUT: 'Dropout',
  SOFTMAX: 'Softmax',
  SOFTMAX_LOSS: 'SoftmaxWithLoss',
  ACCURACY: 'Accuracy',
  DATA: 'Data',
  IMAGE_DATA: 'ImageData',
  MEMORY_DATA: 'MemoryData',
  DUMMY_DATA: 'DummyData',
  HDF5_DATA: 'HDF5Data',
  WINDOW_DATA: 'WindowData',
  SPLIT: 'Split',
  FLATTEN: 'Flatten',
  SILENCE: 'Silence',
  LRN: 'LRN',
};

export function v1TypeName(type: number | undefined): string {
  const name = (V1LayerParameter.lookupEnum('LayerType').valuesById as Record<number, string>)[type ?? 0];
  return name === undefined ? `V1 type ${type}` : (V1_TYPES[name] ?? name);
}
