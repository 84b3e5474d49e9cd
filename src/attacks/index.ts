/** Attacks: threat models, objectives (logit and unit), optimizers, metrics and the attack registry. */
export { parseEpsilon, parseEpsilonList, formatEpsilon, type ParseEpsilonOptions } from './epsilon.js';
export { project, roundTo8Bit, perImageL2, perImageLinf, checkThreat, NORMS, type Norm, type ThreatModel } from './threat.js';
export {
  buildObjective, registerObjective, objectiveKinds, resolveTargets, successOf, crossEntropy, classMargin, dlrLoss,
  type Goal, type Objective, type ObjectiveContext, type ObjectiveFn, type ObjectiveFactory, type ObjectiveSpec,
  type BuiltinObjectiveSpec, type CrossEntropyObjectiveSpec, type MarginObjectiveSpec, type DlrObjectiveSpec, type UnitObjectiveSpec, type TargetSpec,
} from './objectives.js';
export type { AttackOptionsBase, AttackProgress, AttackResult, Labels } from './types.js';
export { fgsm, type FgsmOptions } from './fgsm.js';
export { pgd, type PgdOptions, type StepSchedule } from './pgd.js';
export { cw, type CwOptions } from './cw.js';
export { square, squareFraction, type SquareOptions } from './square.js';
export { apgd, apgdCheckpoints, type ApgdOptions } from './apgd.js';
export { fab, projectToHyperplane, type FabOptions } from './fab.js';
export { autoattack, AUTOATTACK_VERSIONS, type AutoAttackOptions, type AutoAttackVersion, type AutoAttackComponent } from './autoattack.js';
export {
  checkGradientMasking, checkCurve, checkSquare, maskingWarnings,
  type MaskingCheck, type MaskingCheckName, type MaskingCheckOptions, type CurvePoint,
} from './masking.js';
export {
  runAttack, registerAttack, getAttack, attackNames, type AttackSpec, type CustomAttackSpec, type AttackImpl,
} from './registry.js';
export {
  linf, l2, psnr, ssim, gaussianWindow, summarize, cleanAccuracy, robustAccuracy, untargetedSuccess, targetedSuccess,
  unitEffect, normalQuantile, wilsonInterval, type RateInterval, type MetricSummary, type Rate, type UnitEffect, type UnitEffectOptions, type GroupEffect,
} from './metrics.js';
export { randomUnits, type RandomUnitsOptions } from './random-units.js';
export {
  unitAttack, disposeUnitAttack, measureUnitEffect,
  type UnitAttackOptions, type UnitAttackResult, type UnitAttackArm, type UnitSelection, type SideSelection, type UnitShaping,
  type MeasureUnitEffectOptions,
} from './unit/index.js';
export {
  robustnessCurve, unitAttackCurve, DEFAULT_EPSILONS,
  type CurveRow, type RobustnessCurve, type RobustnessCurveOptions, type LogitCurveOptions, type UnitCurveOptions,
} from './curve.js';
// The attacks return data; the report formats it. These formatters are exported here too, where users found them.
export { unitAttackToJson, type RateJson } from '../report/attack-json.js';
export { curveTable, curveToCsv } from '../report/curve-table.js';
