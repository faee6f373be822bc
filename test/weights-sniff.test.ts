import { sniffFormat } from '../lib/weights/sniff';

const bytes = (...b: number[]) => new Uint8Array(b);

describe('sniffFormat: the format from the first bytes, never the extension', () => {
  test.each([
    ['safetensors', [2, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x7d], 10],
    ['pytorch-zip', [0x50, 0x4b, 0x03, 0x04, 0, 0], 100],
    ['pytorch-legacy', [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc], 100],
    ['hdf5', [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a, 0], 100],
    ['onnx', [0x08, 0x07, 0x12], 100],
    ['caffe', [0x0a, 0x05, 0x56], 100],
    ['caffe', [0x12, 0x10], 100],
    ['caffe', [0xa2, 0x06, 0x10], 100],
  ])('%s', (want, head, size) => {
    expect(sniffFormat(bytes(...head), size)).toBe(want);
  });

  test('a damaged safetensors length is still safetensors (its reader explains); empty files and text are none', () => {
    expect(sniffFormat(bytes(0xff, 0, 0, 0, 0, 0, 0, 0, 0x7b), 100)).toBe('safetensors');
    expect(sniffFormat(bytes(), 0)).toBeNull();
    expect(sniffFormat(new TextEncoder().encode('name: "VGG_ILSVRC_16_layers"'), 100)).toBeNull();
    expect(sniffFormat(bytes(0x80, 0x01), 100)).toBeNull(); // pickle protocol 1: not what torch.save writes
  });
});
