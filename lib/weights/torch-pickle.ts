/**
 * The torch side of reading a .pth pickle (pickle.ts is the machine): the globals torch.load(weights_only=True)
 * allows (torch/_weights_only_unpickler.py, _get_allowed_globals), each resolved to a description, and the calls
 * on them interpreted without running anything. What comes out is Python's containers (PyDict, …) holding
 * PthTensor views of storages named by persistent ids:
 *
 *   ('storage', <torch.FloatStorage>, key, location, numel)          zip archives (torch.save since 1.6)
 *   ('storage', <torch.FloatStorage>, key, location, numel, view)    legacy files; view = None or
 *                                                                    (view_key, offset, numel) in elements
 *   torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, hooks[, metadata])
 *   torch._utils._rebuild_tensor(storage, storage_offset, size, stride)          PyTorch < 0.4
 *   torch._utils._rebuild_tensor_v3(…, requires_grad, hooks, dtype[, metadata])  a dtype the storage lacks
 *   torch._utils._rebuild_parameter(data, requires_grad, hooks[, state]), nn.Parameter(data, …)
 *   torch._tensor._rebuild_from_type_v2(func, type, args, state)                 tensors with attributes
 *
 * Any other global is refused (UnsupportedError naming it): os.system, builtins.eval, a model's class (the
 * file then holds torch.save(model), not a state dict). Sparse, quantized, meta and device-wrapper tensors are
 * allowed by torch but are no dense weights: they become UnreadableTensor, refused if a weight is one.
 */
import { FormatError, UnsupportedError } from '../errors';
import { PickleHost, PyDict, PyList, PySet, PyTuple, pyType } from './pickle';

/** Bytes per element of torch dtypes (c10/core/ScalarType.h). */
export const DTYPE_BYTES: Readonly<Record<string, number>> = Object.freeze({
  float64: 8,
  float32: 4,
  float16: 2,
  bfloat16: 2,
  complex32: 4,
  complex64: 8,
  complex128: 16,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint64: 8,
  uint32: 4,
  uint16: 2,
  uint8: 1,
  bool: 1,
  qint8: 1,
  quint8: 1,
  qint32: 4,
  quint4x2: 1,
  quint2x4: 1,
  float8_e5m2: 1,
  float8_e4m3fn: 1,
  float8_e5m2fnuz: 1,
  float8_e4m3fnuz: 1,
});
/** Sub-byte dtypes torch also allows as globals (torch.int1 … torch.uint7): no storage of ours holds them. */
const BIT_DTYPES = new Set(Array.from({ length: 7 }, (_, i) => [`int${i + 1}`, `uint${i + 1}`]).flat());

/** Legacy storage classes (torch/storage.py _get_dtype_from_pickle_storage_type); UntypedStorage holds bytes. */
const STORAGE_DTYPES: Readonly<Record<string, string>> = Object.freeze({
  DoubleStorage: 'float64',
  FloatStorage: 'float32',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
  ComplexFloatStorage: 'complex64',
  ComplexDoubleStorage: 'complex128',
  QInt8Storage: 'qint8',
  QUInt8Storage: 'quint8',
  QInt32Storage: 'qint32',
  QUInt4x2Storage: 'quint4x2',
  QUInt2x4Storage: 'quint2x4',
  UntypedStorage: 'uint8',
});

/** torch._tensor_classes (torch.FloatTensor, …) and torch.Tensor. */
const TENSOR_CLASS_DTYPES: Readonly<Record<string, string>> = Object.freeze({
  Tensor: 'float32',
  DoubleTensor: 'float64',
  FloatTensor: 'float32',
  HalfTensor: 'float16',
  BFloat16Tensor: 'bfloat16',
  LongTensor: 'int64',
  IntTensor: 'int32',
  ShortTensor: 'int16',
  CharTensor: 'int8',
  ByteTensor: 'uint8',
  BoolTensor: 'bool',
});

/** Rebuild functions allowed by torch whose tensors are not dense weights. */
const UNREADABLE_REBUILDS: Readonly<Record<string, string>> = Object.freeze({
  _rebuild_sparse_tensor: 'a sparse tensor',
  _rebuild_sparse_csr_tensor: 'a sparse CSR tensor',
  _rebuild_meta_tensor_no_storage: 'a meta tensor (no data)',
  _rebuild_qtensor: 'a quantized tensor',
  _rebuild_wrapper_subclass: 'a tensor subclass without storage',
  _rebuild_device_tensor_from_numpy: 'a device tensor',
  _rebuild_device_tensor_from_cpu_tensor: 'a device tensor',
});
const REBUILDS = new Set([
  '_rebuild_tensor',
  '_rebuild_tensor_v2',
  '_rebuild_tensor_v3',
  '_rebuild_parameter',
  '_rebuild_parameter_with_state',
  ...Object.keys(UNREADABLE_REBUILDS),
]);
const QSCHEMES = new Set([
  'per_tensor_affine',
  'per_tensor_symmetric',
  'per_channel_affine',
  'per_channel_symmetric',
  'per_channel_affine_float_qparams',
]);

/** Modules whose globals torch refuses even when a user allowlists them (_blocklisted_modules), and the like. */
const CODE_MODULES = new Set(['os', 'posix', 'nt', 'sys', 'builtins', 'subprocess', 'runpy', 'importlib', 'shutil']);

type GlobalKind =
  | 'dict'
  | 'set'
  | 'bytearray'
  | 'complex'
  | 'encode'
  | 'size'
  | 'device'
  | 'tensorClass'
  | 'parameter'
  | 'storage'
  | 'dtype'
  | 'constant'
  | 'layout'
  | 'rebuild'
  | 'fromType';

/** An allowed global, described (never imported). */
export class TorchGlobal {
  readonly pyType: string;
  constructor(
    readonly path: string,
    readonly kind: GlobalKind,
    /** storage, tensor class and dtype globals: their dtype; rebuild: the function's name */
    readonly arg = '',
  ) {
    this.pyType = path;
  }
}

/** A storage (or a legacy view of one) as a persistent id names it. */
export class PthStorage {
  readonly pyType = 'torch.storage';
  constructor(
    /** Key of the root storage: its zip record data/<key>, or its place among a legacy file's storages. */
    readonly key: string,
    readonly dtype: string,
    /** Offset into the root storage's bytes (legacy views), and bytes held. */
    readonly byteOffset: number,
    readonly nbytes: number,
  ) {}
}

/** A dense tensor: elements storage[offset + Σ i_d·stride_d] (in elements of dtype) for index i < size. */
export class PthTensor {
  readonly pyType = 'torch.Tensor';
  constructor(
    readonly storage: PthStorage | null,
    readonly offset: number,
    readonly size: number[],
    readonly stride: number[],
    readonly dtype: string,
  ) {}
}

/** A tensor torch allows but that holds no dense data we can read (sparse, quantized, meta, …). */
export class UnreadableTensor {
  readonly pyType = 'torch.Tensor';
  constructor(
    readonly what: string,
    readonly size: number[],
  ) {}
}

/** A torch.save file opened: its object, the storages it names, and where their bytes lie (pth-zip.ts, pth-legacy.ts). */
export interface PthContainer {
  /** The object torch.save pickled. */
  value: unknown;
  /** Root storages the pickle names (TorchPickleHost.roots). */
  roots: Map<string, { dtype: string; nbytes: number }>;
  /** Byte order of the storages' elements. */
  littleEndian: boolean;
  /** File offset of root storage `key`'s first byte, once its bytes are checked present in full.
   *  @throws FormatError (missing, truncated, a size that differs from the pickle's) */
  locate(key: string): Promise<number>;
  /** Releases what the container holds (not the file handle). */
  done(): void;
}

export type AnyTensor = PthTensor | UnreadableTensor;
export const isTensor = (v: unknown): v is AnyTensor => v instanceof PthTensor || v instanceof UnreadableTensor;

/** The allowed global `module.name`, or null. Python 2 pickles name builtins '__builtin__' (IMPORT_MAPPING). */
function allowedGlobal(module: string, name: string): TorchGlobal | null {
  const path = `${module}.${name}`;
  const g = (kind: GlobalKind, arg = '') => new TorchGlobal(path, kind, arg);
  switch (module) {
    case 'collections':
      return name === 'OrderedDict' || name === 'Counter' ? g('dict') : null;
    case 'builtins':
      return name === 'set'
        ? g('set')
        : name === 'bytearray'
          ? g('bytearray')
          : name === 'complex'
            ? g('complex')
            : null;
    case '_codecs':
      return name === 'encode' ? g('encode') : null;
    case 'torch.nn.parameter':
      return name === 'Parameter' ? g('parameter') : null;
    case 'torch._utils':
      return REBUILDS.has(name) ? g('rebuild', name) : null;
    case 'torch._tensor':
    case 'torch.tensor': // the module's name before PyTorch 1.8 (torch.serialization's load_module_mapping)
      return name === '_rebuild_from_type_v2' ? g('fromType') : null;
    case 'torch.serialization':
      return name === '_get_layout' ? g('layout') : null;
    case 'torch.storage':
      return name === 'UntypedStorage' ? g('storage', 'uint8') : null;
    case 'torch.cuda':
      if (STORAGE_DTYPES[name] !== undefined && name !== 'UntypedStorage') return g('storage', STORAGE_DTYPES[name]);
      return TENSOR_CLASS_DTYPES[name] !== undefined && name !== 'Tensor'
        ? g('tensorClass', TENSOR_CLASS_DTYPES[name])
        : null;
    case 'torch':
      if (Object.prototype.hasOwnProperty.call(STORAGE_DTYPES, name)) return g('storage', STORAGE_DTYPES[name]);
      if (Object.prototype.hasOwnProperty.call(TENSOR_CLASS_DTYPES, name))
        return g('tensorClass', TENSOR_CLASS_DTYPES[name]);
      if (Object.prototype.hasOwnProperty.call(DTYPE_BYTES, name) || BIT_DTYPES.has(name)) return g('dtype', name);
      if (name === 'Size') return g('size');
      if (name === 'device') return g('device');
      return QSCHEMES.has(name) ? g('constant') : null;
  }
  return null;
}

const safeIndex = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** The host for torch.save's pickles; records every root storage the pickle names (key → dtype, bytes). */
export class TorchPickleHost implements PickleHost {
  /** Root storages by key, in the order the pickle first names them. */
  readonly roots = new Map<string, { dtype: string; nbytes: number }>();

  /** @param where  the pickle in messages ("model.pth: archive/data.pkl") */
  constructor(private readonly where: string) {}

  private fail(at: number, what: string): FormatError {
    return new FormatError(`${this.where}: ${what} (at byte ${at})`);
  }

  global(module: string, name: string): unknown {
    const mod = module === '__builtin__' ? 'builtins' : module;
    const g = allowedGlobal(mod, name);
    if (g) return g;
    const path = `${mod}.${name}`;
    if (/^[A-Z]/.test(name) && !CODE_MODULES.has(mod.split('.')[0]))
      throw new UnsupportedError(
        `${this.where}: refused pickle global '${path}': the file holds a pickled Python object (torch.save(model) ` +
          `saves the whole model), not a state dict; nothing in it is run. In Python, save the weights with ` +
          `torch.save(model.state_dict(), path)`,
      );
    throw new UnsupportedError(
      `${this.where}: refused pickle global '${path}': a .pth is read as torch.load(weights_only=True) reads it ` +
        `(OrderedDict, tensors, storages, dtypes only), and nothing in the file is ever run`,
    );
  }

  reduce(fn: unknown, args: PyTuple, at: number): unknown {
    if (!(fn instanceof TorchGlobal)) throw this.fail(at, `REDUCE: a ${pyType(fn)} is not callable`);
    const a = args.items;
    switch (fn.kind) {
      case 'dict':
        return this.dict(fn, a, at);
      case 'set': {
        const s = new PySet();
        if (a[0] instanceof PyList || a[0] instanceof PyTuple) s.items.push(...a[0].items);
        return s;
      }
      case 'bytearray':
        return a[0] instanceof Uint8Array ? a[0] : new Uint8Array(0);
      case 'encode': // how protocol 2 pickles bytes: _codecs.encode(str, 'latin1')
        if (typeof a[0] !== 'string' || (a[1] !== 'latin1' && a[1] !== 'latin-1'))
          throw this.fail(at, `_codecs.encode: expected (str, 'latin1'), got ${a.map(pyType).join(', ')}`);
        return Uint8Array.from(a[0], (c) => c.charCodeAt(0) & 0xff);
      case 'complex':
      case 'layout':
        return new TorchGlobal(`${fn.path}(…)`, 'constant');
      case 'size':
        if (!(a[0] instanceof PyTuple || a[0] instanceof PyList))
          throw this.fail(at, `torch.Size: expected a tuple, got ${pyType(a[0])}`);
        return new PyTuple(a[0].items);
      case 'device':
        return a.length > 1 && a[1] !== null ? `${String(a[0])}:${String(a[1])}` : String(a[0]);
      case 'tensorClass': // legacy: torch.FloatTensor() then BUILD with (storage, offset, size, stride)
        if (a.length) throw this.fail(at, `${fn.path}: expected no arguments, got ${a.length}`);
        return new PthTensor(null, 0, [0], [1], fn.arg);
      case 'parameter':
        return this.tensorArg(a[0], fn.path, at);
      case 'rebuild':
        return this.rebuild(fn.arg, a, at);
      case 'fromType': {
        const [func, , inner] = a;
        if (!(inner instanceof PyTuple)) throw this.fail(at, `${fn.path}: expected an argument tuple`);
        return this.reduce(func, inner, at);
      }
      default:
        throw this.fail(at, `REDUCE: ${fn.path} is not callable`);
    }
  }

  newobj(cls: unknown, args: PyTuple, at: number): unknown {
    if (cls instanceof TorchGlobal) {
      if (cls.kind === 'parameter') return this.tensorArg(args.items[0], cls.path, at);
      if (cls.kind === 'dict') return new PyDict();
      if (cls.kind === 'set') return new PySet();
    }
    throw this.fail(at, `NEWOBJ of ${pyType(cls)}: only nn.Parameter, dicts and sets are created`);
  }

  build(inst: unknown, state: unknown, at: number): unknown {
    if (inst instanceof PyDict || inst instanceof UnreadableTensor) return inst; // OrderedDict._metadata, …
    if (inst instanceof PthTensor) {
      // torch.FloatTensor() then BUILD (storage, offset, size, stride): Tensor.set_ of the legacy pickles.
      if (inst.storage === null && state instanceof PyTuple && state.items.length === 4) {
        const [s, offset, size, stride] = state.items;
        return this.tensor('Tensor.set_', s, offset, size, stride, inst.dtype, at);
      }
      return inst; // a Parameter's or a tensor's Python attributes
    }
    throw this.fail(at, `BUILD of a ${pyType(inst)}: only tensors, Parameters and OrderedDicts are built`);
  }

  persistentLoad(pid: unknown, at: number): unknown {
    const items = pid instanceof PyTuple ? pid.items : null;
    const first = items?.[0];
    const kind = first instanceof Uint8Array && first.length < 16 ? String.fromCharCode(...first) : first;
    if (kind !== 'storage' || !items || (items.length !== 5 && items.length !== 6))
      throw this.fail(
        at,
        `persistent id: expected ('storage', type, key, location, numel[, view]), got ${
          items
            ? `a ${items.length}-tuple starting ${pyType(items[0])} ${typeof kind === 'string' ? `'${kind}'` : ''}`
            : pyType(pid)
        }`,
      );
    const [, type, key, , numel, view] = items;
    if (!(type instanceof TorchGlobal) || type.kind !== 'storage')
      throw this.fail(at, `persistent id: expected a storage class, got ${pyType(type)}`);
    if (typeof key !== 'string') throw this.fail(at, `persistent id: expected a string key, got ${pyType(key)}`);
    if (!safeIndex(numel)) throw this.fail(at, `storage '${key}': numel must be a non-negative integer`);
    const es = DTYPE_BYTES[type.arg];
    const nbytes = numel * es;
    if (!Number.isSafeInteger(nbytes)) throw this.fail(at, `storage '${key}': ${numel} elements is too many`);
    const root = this.roots.get(key);
    if (!root) this.roots.set(key, { dtype: type.arg, nbytes });
    else if (root.dtype !== type.arg || root.nbytes !== nbytes)
      throw this.fail(
        at,
        `storage '${key}' is named twice, as ${root.nbytes} bytes of ${root.dtype} and ${nbytes} bytes of ${type.arg}`,
      );
    if (view === undefined || view === null) return new PthStorage(key, type.arg, 0, nbytes);
    const v = view instanceof PyTuple ? view.items : [];
    if (v.length !== 3 || !safeIndex(v[1]) || !safeIndex(v[2]) || (v[1] + v[2]) * es > nbytes)
      throw this.fail(
        at,
        `storage '${key}': a view must be (key, offset, numel) within the storage's ${numel} elements`,
      );
    return new PthStorage(key, type.arg, v[1] * es, v[2] * es);
  }

  private dict(fn: TorchGlobal, a: unknown[], at: number): PyDict {
    const d = new PyDict();
    const init = a[0];
    if (init instanceof PyDict) for (const [k, v] of init.map) d.map.set(k, v);
    else if (init instanceof PyList || init instanceof PyTuple)
      for (const pair of init.items) {
        if (!(pair instanceof PyTuple) || pair.items.length !== 2)
          throw this.fail(at, `${fn.path}: expected (key, value) pairs, got a ${pyType(pair)}`);
        d.map.set(pair.items[0], pair.items[1]);
      }
    else if (init !== undefined) throw this.fail(at, `${fn.path}: cannot be made from a ${pyType(init)}`);
    return d;
  }

  private tensorArg(v: unknown, what: string, at: number): unknown {
    if (!isTensor(v)) throw this.fail(at, `${what}: expected a tensor, got ${pyType(v)}`);
    return v;
  }

  private rebuild(name: string, a: unknown[], at: number): unknown {
    const what = `torch._utils.${name}`;
    switch (name) {
      case '_rebuild_tensor':
      case '_rebuild_tensor_v2':
        return this.tensor(what, a[0], a[1], a[2], a[3], undefined, at);
      case '_rebuild_tensor_v3': {
        const dtype = a[6];
        if (!(dtype instanceof TorchGlobal) || dtype.kind !== 'dtype')
          throw this.fail(at, `${what}: argument 7 must be a dtype, got ${pyType(dtype)}`);
        return this.tensor(what, a[0], a[1], a[2], a[3], dtype.arg, at);
      }
      case '_rebuild_parameter':
      case '_rebuild_parameter_with_state':
        return this.tensorArg(a[0], what, at);
    }
    // Sizes where the arguments give them: (…, size, …) of a quantized or a meta tensor, for messages.
    const size = name === '_rebuild_qtensor' ? a[2] : name === '_rebuild_meta_tensor_no_storage' ? a[1] : null;
    const dims = size instanceof PyTuple && size.items.every(safeIndex) ? (size.items as number[]) : [];
    return new UnreadableTensor(`${UNREADABLE_REBUILDS[name]} (${what})`, dims);
  }

  /** A tensor view, checked as Tensor.set_ checks it: every element it reaches lies inside the storage. */
  private tensor(
    what: string,
    storage: unknown,
    offset: unknown,
    size: unknown,
    stride: unknown,
    dtype: string | undefined,
    at: number,
  ): PthTensor | UnreadableTensor {
    if (!(storage instanceof PthStorage)) throw this.fail(at, `${what}: expected a storage, got ${pyType(storage)}`);
    const dims = (v: unknown, name: string): number[] => {
      const items = v instanceof PyTuple || v instanceof PyList ? v.items : null;
      if (!items || items.length > 64 || !items.every(safeIndex))
        throw this.fail(at, `${what}: ${name} must be a tuple of at most 64 non-negative integers`);
      return items as number[];
    };
    const s = dims(size, 'size');
    const st = dims(stride, 'stride');
    if (st.length !== s.length)
      throw this.fail(at, `${what}: size [${s.join(',')}] and stride [${st.join(',')}] differ in length`);
    if (!safeIndex(offset)) throw this.fail(at, `${what}: storage_offset must be a non-negative integer`);
    const type = dtype ?? storage.dtype;
    const es = DTYPE_BYTES[type];
    if (es === undefined) return new UnreadableTensor(`of dtype ${type}`, s);
    let numel = 1;
    let last = offset;
    for (let d = 0; d < s.length; d++) {
      numel *= s[d];
      if (s[d] > 0) last += (s[d] - 1) * st[d];
    }
    if (!Number.isSafeInteger(numel) || !Number.isSafeInteger(last))
      throw this.fail(at, `${what}: size [${s.join(',')}] is too large`);
    const elements = Math.floor(storage.nbytes / es);
    if (numel > 0 && last >= elements)
      throw this.fail(
        at,
        `${what}: a view (offset ${offset}, size [${s.join(',')}], stride [${st.join(',')}]) reaches element ` +
          `${last} of storage '${storage.key}', which holds ${elements} elements of ${type}`,
      );
    return new PthTensor(storage, offset, s, st, type);
  }
}
