/** The unit attack: option and result types, the runner, the unit objective, the unit-effect measurement (its JSON is written by report/attack-json.ts). */
export { unitAttack, disposeUnitAttack } from './run.js';
export { measureUnitEffect, type MeasureUnitEffectOptions } from './measure.js';
export { unitObjective, type UnitObjectiveSpec, type UnitShaping } from './objective.js';
export type { UnitAttackOptions, UnitAttackResult, UnitAttackArm, UnitSelection, SideSelection } from './types.js';
