/** A run's results built by hand, for the report tests. */
import { encodePng, type RgbImage } from '../../src/data/images.js';
import { barChartSvg } from '../../src/report/bars.js';
import { lineChartSvg } from '../../src/report/plot.js';
import { RESULTS_FORMAT, RESULTS_VERSION, type RunOutput, type RunResults, type ScenarioResult } from '../../src/report/types.js';

function gradient(size: number, phase: number): RgbImage {
  const data = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = (y * size + x) * 3;
      data[i] = (x * 255) / size; data[i + 1] = (y * 255) / size; data[i + 2] = (phase * 60 + x * y) % 256;
    }
  }
  return { data, width: size, height: size };
}

/** A scenario result; `name` may hold characters XML and HTML must escape. */
export function scenarioResult(name: string, status: ScenarioResult['status'], over: Partial<ScenarioResult> = {}): ScenarioResult {
  return {
    name, file: `scenarios/${name.replace(/\W+/g, '-')}.yaml`, status, task: 'attack',
    model: { spec: 'builtin:scenes-vgg16', name: 'builtin:scenes-vgg16', fingerprint: 'abc123', inputSize: [96, 96], classes: 14 },
    expectations: [
      { metric: 'targeted_success', measured: status === 'passed' ? 0.85 : 0.35, threshold: { min: 0.8 }, passed: status === 'passed' },
      { metric: 'psnr', measured: Number.POSITIVE_INFINITY, threshold: { min: 30 }, passed: true },
      { metric: 'linf', measured: 8 / 255, threshold: { max: 8 / 255 }, passed: true },
    ],
    metrics: { targeted_success: status === 'passed' ? 0.85 : 0.35, psnr: Number.POSITIVE_INFINITY, linf: 8 / 255, ssim: Number.NaN, clean_accuracy: 1 },
    inputs: { kind: 'synthetic', total: 4, used: 4, errored: [], allowErrors: 0 },
    seeds: { inputs: 11, attack: 3 },
    durations: { total: 1.25, attack: 1 },
    details: { attack: { kind: 'pgd', epsilonText: '8/255' } },
    warnings: ['a <warning> & more'],
    images: [{ id: 'ski_resort-0', label: 'ski_resort', cleanPrediction: 'ski_resort', finalPrediction: 'bedroom', success: true, files: {} }],
    ...over,
  };
}

export function runResults(scenarios: ScenarioResult[], over: Partial<RunResults> = {}): RunResults {
  const failed = scenarios.filter((s) => s.status === 'failed').length;
  return {
    format: RESULTS_FORMAT, version: RESULTS_VERSION, created: '2026-01-02T03:04:05.678Z', passed: failed === 0, exitCode: failed ? 1 : 0,
    summary: {
      scenarios: scenarios.length, passed: scenarios.filter((s) => s.status === 'passed').length, failed, errored: scenarios.filter((s) => s.status === 'error').length,
      expectations: scenarios.reduce((a, s) => a + s.expectations.length, 0), failedExpectations: scenarios.reduce((a, s) => a + s.expectations.filter((e) => !e.passed).length, 0),
    },
    tool: { name: 'unit-attack', version: '0.1.0' }, versions: { unitAttack: '0.1.0', node: 'v20', tfjs: '4.22.0' },
    backend: { name: 'cpu', reason: 'cpu was asked for', tfjsVersion: '4.22.0', backendVersion: '4.22.0', threads: 1, simd: null, fastKernels: [] },
    durations: { total: 2.5 }, options: { workers: 1 }, scenarios, ...over,
  };
}

/** A run output with pictures and plots for every image record. */
export async function runOutput(): Promise<RunOutput> {
  const a = scenarioResult('ski resort → bedroom <script>alert(1)</script> & "quotes"', 'failed');
  const b = scenarioResult('robustness gate', 'passed');
  const c = scenarioResult('broken', 'error', {
    expectations: [{ metric: 'clean_accuracy', measured: Number.NaN, threshold: { min: 0.9 }, passed: false }], metrics: {}, images: [],
    error: { code: 'UA_INPUT', message: "the model has no class 'purple'", path: 'attack.target', file: 'scenarios/broken.yaml', line: 9, hint: 'classes: a, b' },
  });
  const results = runResults([a, b, c]);
  const pictures = async (phase: number) => [
    { role: 'original' as const, png: new Uint8Array(await encodePng(gradient(96, phase))) },
    { role: 'adversarial' as const, png: new Uint8Array(await encodePng(gradient(96, phase + 1))) },
    { role: 'perturbation' as const, png: new Uint8Array(await encodePng(gradient(96, phase + 2))) },
    { role: 'heatmap' as const, png: new Uint8Array(await encodePng(gradient(96, phase + 3))) },
  ];
  const plots = [
    { title: 'Rates', svg: barChartSvg({ title: 'Accuracy and attack success', categories: ['clean accuracy', 'targeted success'], series: [{ name: 'attack', values: [1, 0.35] }, { name: 'control', values: [1, 0.05], color: '#999' }] }) },
    { title: 'Curve', svg: lineChartSvg({ title: 'Ablation', xLabel: 'N', yLabel: 'accuracy', yDomain: [0, 1], series: [{ name: 'ski_resort', points: [[1, 0.9], [2, 0.6], [4, 0.2]] }] }) },
  ];
  return { results, artifacts: [{ images: [await pictures(0)], plots }, { images: [await pictures(4)], plots: plots.slice(0, 1) }, { images: [], plots: [] }] };
}
