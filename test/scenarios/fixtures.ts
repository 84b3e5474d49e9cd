/** Scenario documents shared by the scenario tests. */

/** A valid scenario that uses most of the schema (the unit attack with a dissection). */
export function validUnitScenario(): Record<string, unknown> {
  return {
    name: 'ski resort to bedroom',
    description: 'suppress snow and mountain units, excite bed units',
    model: 'builtin:scenes-vgg16',
    inputs: { synthetic: { class: 'ski_resort', count: 20, seed: 11 }, allowErrors: 0 },
    dissection: { layer: 'block5_conv3', probe: 'builtin:scenes?count=500&seed=7', quantile: 0.01, iouThreshold: 0.04, topN: 20 },
    attack: {
      kind: 'unit', epsilon: '8/255', norm: 'linf', steps: 40, restarts: 1, seed: 3, target: 'bedroom',
      suppress: ['snow', 'mountain'], excite: ['bed'], units: 10, aggregate: 'mean', classWeight: 0, randomControl: true,
    },
    expectations: {
      targeted_success: { min: 0.2 },
      random_control_success: { max: 0.1 },
      psnr: { min: 30 },
      linf: { max: '8/255' },
    },
  };
}

/** A valid PGD scenario. */
export function validPgdScenario(): Record<string, unknown> {
  return {
    name: 'robustness gate',
    model: { path: 'builtin:scenes-vgg16', preprocessing: 'unit' },
    inputs: { synthetic: { count: 12, seed: 1 } },
    attack: { kind: 'pgd', epsilon: '2/255', steps: 10 },
    expectations: { robust_accuracy: { min: 0.5 }, clean_accuracy: { min: 0.9 } },
  };
}

/** A valid fuzz scenario. */
export function validFuzzScenario(): Record<string, unknown> {
  return {
    name: 'corruption fuzz',
    model: 'builtin:scenes-vgg16',
    inputs: { synthetic: { class: ['beach', 'bedroom'], count: 8, seed: 2 } },
    fuzz: { runs: 50, seed: 9, noise: '4/255', brightness: 0.1, contrast: 0.1, blur: 0.8, jpeg: 70, shift: 2 },
    expectations: { property_holds: { min: 1 } },
  };
}
