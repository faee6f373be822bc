/**
 * Features of images (transfer learning, retrieval, perceptual and style losses): an image preprocessed as
 * classification would, one forward, and the outputs of the layers asked for (ForwardOptions.outputs).
 */
import { describeValue } from './describe';
import { InvalidArgumentError } from './errors';
import { Classifier, defaultScales } from './evaluate';
import { ImageInput } from './image-input';
import { Features } from './model';
import { ForwardMode, optionKeys, parseMode, readOptions } from './options';
import { checkSpec, loadImage } from './preprocess';

export interface EmbedOptions {
  /** Layer names (ForwardOptions.outputs), e.g. ['pool5', 'fc7']. Required. */
  outputs: readonly string[];
  /**
   * 'fc' (default): resize the shorter side to `scale` then centre-crop the training size (torchvision's
   * Resize(256) + CenterCrop(224)); 'torchvision' and 'dense': the whole image resized to `scale`.
   */
  mode?: ForwardMode;
  /** Shorter side in pixels before the forward (0: keep the image's size). Default: as classification's
   *  defaultScales (256 for 'fc'/'torchvision', 384 for 'dense' at 224; the file's own preprocessing keeps
   *  its size). */
  scale?: number;
}

const EMBED_OPTION_KEYS = optionKeys<EmbedOptions>({ outputs: true, mode: true, scale: true });

/**
 * The features of one image: Features as Model.forward with `outputs` gives them, batch N = 1.
 * @param image  a file path, a URL or encoded bytes (ImageInput: JPEG, PNG, WebP, GIF, TIFF, …)
 * @throws InvalidArgumentError (options, layer names, an image too small for the mode), FormatError (not an
 *   image), UnsupportedError / FetchError (a URL: see loadImage), and the forward's errors (Model.forward)
 */
export async function embedImage(c: Classifier, image: ImageInput, options: EmbedOptions): Promise<Features> {
  const o = readOptions(options, EMBED_OPTION_KEYS);
  const outputs = o.outputs;
  if (outputs === undefined)
    throw new InvalidArgumentError(`options.outputs: expected layer names (e.g. ['pool5', 'fc7']), got undefined`);
  const mode = parseMode(o.mode ?? 'fc');
  const size = c.model.config.inputSize;
  const scale = o.scale ?? defaultScales(size, mode, c.ownPreprocess)[0];
  if (!Number.isInteger(scale) || scale < 0)
    throw new InvalidArgumentError(`options.scale: expected an integer >= 0, got ${describeValue(scale)}`);
  const spec = checkSpec(c.preprocess, c.model.config.inChannels);
  const x = await loadImage(image, spec, { shorterSide: scale, ...(mode === 'fc' ? { crop: size } : {}) });
  return c.model.forward(x, { mode, outputs });
}
