/** Bring your own model: ONNX and Keras `.h5` import into unit-attack model folders. */
export {
  importModel, convertModelFile, resolveClasses, parseClassNames,
  type ImportOptions, type ImportResult, type ConvertedModel, type ImportFormat,
} from './import.js';
export { convertOnnx, SUPPORTED_OPSETS, type ConvertOnnxOptions, type OnnxConversion } from './onnx/convert.js';
export { decodeOnnx, type OnnxModel, type OnnxNode, type OnnxTensor } from './onnx/proto.js';
export { registerOnnxOp, supportedOnnxOps, type OpConverter } from './onnx/ops.js';
export { readKerasH5, type KerasH5 } from './keras/h5.js';
export { kerasModelFromH5, vgg16FromKerasWeights, type KerasConversion } from './keras/convert.js';
export { withLayerAliases } from './aliases.js';
export { sanitizeLayerName, modulePaths } from './names.js';
export { GroupConv2D, Pool2D, Pad2D, AffineClip, ConstArithmetic, Arithmetic, CUSTOM_LAYER_CLASSES } from './layers.js';
