/** The unit attack: option and result types, the runner, the unit objective, the unit-effect measurement and JSON. */
export { unitAttack, disposeUnitAttack } from './run.js';
export { measureUnitEffect, type MeasureUnitEffectOptions } from './measure.js';
export { unitAttackToJson, type RateJson } from './json.js';
export { unitObjective, type UnitObjectiveSpec, type UnitShaping } from './objective.js';
export type { UnitAttackOptions, UnitAttackResult, UnitAttackArm, UnitSelection, SideSelection } from './types.js';
