import * as tf from '../../src/tf.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { robustnessCurve } from '../../src/attacks/curve.js';
import { fgsm } from '../../src/attacks/fgsm.js';
import { pgd } from '../../src/attacks/pgd.js';
import { runAttack } from '../../src/attacks/registry.js';
import { unitAttack, disposeUnitAttack } from '../../src/attacks/unit/index.js';
import { UnitAttackError } from '../../src/errors.js';
import { colourImages, colourModel } from './helpers.js';

beforeAll(async () => { await tf.setBackend('cpu'); });

describe('labels as class names', () => {
  it('give the same attack as the class indices they name, in every attack entry', async () => {
    const clf = colourModel();
    const x = colourImages(4);
    const indices = [0, 1, 2, 0];
    const names = indices.map((i) => clf.classNames[i]);
    const mixed = [names[0], 1, names[2], 0];
    for (const run of [
      (l: readonly (string | number)[]) => fgsm(clf, x, l, { epsilon: '8/255' }),
      (l: readonly (string | number)[]) => pgd(clf, x, l, { epsilon: '8/255', steps: 3, seed: 2 }),
      (l: readonly (string | number)[]) => runAttack(clf, x, l, { kind: 'pgd', epsilon: '8/255', steps: 3, seed: 2 }),
    ]) {
      const a = await run(indices);
      const b = await run(names);
      const c = await run(mixed);
      expect(Array.from(b.predictions)).toEqual(Array.from(a.predictions));
      expect(Array.from(c.predictions)).toEqual(Array.from(a.predictions));
      expect(Array.from(b.success)).toEqual(Array.from(a.success));
      tf.dispose([a.adversarial, b.adversarial, c.adversarial]);
    }
    const curveA = await robustnessCurve(clf, x, indices, { kind: 'fgsm' }, { epsilons: '0,8/255' });
    const curveB = await robustnessCurve(clf, x, names, { kind: 'fgsm' }, { epsilons: '0,8/255' });
    expect(curveB.rows.map((r) => r.robustAccuracy)).toEqual(curveA.rows.map((r) => r.robustAccuracy));
    const u = await unitAttack(clf, x, names, { suppressUnits: [0], exciteUnits: [1], epsilon: '8/255', steps: 3, control: false, target: 'green' });
    const v = await unitAttack(clf, x, indices, { suppressUnits: [0], exciteUnits: [1], epsilon: '8/255', steps: 3, control: false, target: 'green' });
    expect(u.unit.targetedSuccess).toEqual(v.unit.targetedSuccess);
    disposeUnitAttack(u);
    disposeUnitAttack(v);
    x.dispose();
    clf.dispose();
  });

  it('reject a name the model does not have, naming the nearest classes', async () => {
    const clf = colourModel();
    const x = colourImages(2);
    const err = await fgsm(clf, x, ['red', 'gren'], { epsilon: '8/255' }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(UnitAttackError);
    expect((err as UnitAttackError).message).toBe("labels[1] = 'gren' is not a class of this model");
    expect((err as UnitAttackError).hint).toMatch(/did you mean 'green'/);
    x.dispose();
    clf.dispose();
  });
});
