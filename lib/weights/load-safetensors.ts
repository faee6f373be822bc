/**
 * Loading VGG weights from a safetensors file: the header read and validated (safetensors.ts), then the named
 * tensors checked and read layer by layer as every named format is (named-tensors.ts), with the file's
 * "vggnet.*" metadata.
 */
import { openNamedWeights } from './named-tensors';
import { SafetensorsFile } from './safetensors';
import { LoadWeightsOptions, resolveGivenArch, WeightsReader } from './types';

/** Opens a safetensors weights file and checks every tensor against the architecture; layers are read by
 *  read(i). Errors as loadWeights. */
export async function openSafetensorsWeights(file: string, options: LoadWeightsOptions = {}): Promise<WeightsReader> {
  resolveGivenArch(options.arch); // an unknown arch fails before the file is read
  const st = await SafetensorsFile.open(file);
  const src = {
    file,
    names: () => st.names(),
    shape: (name: string) => st.entry(name).shape,
    checkReadable: (name: string) => st.checkReadable(name),
    readF32: (name: string) => st.readF32(name),
    readRangeF32: (name: string, from: number, count: number) => st.readRangeF32(name, from, count),
    close: () => st.close(),
  };
  return openNamedWeights(src, options, 'safetensors', st.header.metadata);
}
