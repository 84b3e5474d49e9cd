/**
 * The pictures and plots of a scenario for the HTML report, drawn from what its task measured: the example images
 * (original, adversarial, perturbation, heatmaps, counterexamples) and the charts (rates, unit effect, ablation
 * curves, a generator's removal and insertion).
 */
import { formatEpsilon } from '../attacks/epsilon.js';
import { encodePng, perturbationPicture, type RgbImage } from '../data/images.js';
import type { RankingKind } from '../gan/ablate.js';
import { barChartSvg } from './bars.js';
import { ablationChart, insertionChartSvg, pictureGridSvg } from './gan-report.js';
import { perturbationAmplification } from './heatmap.js';
import { addPngText, heatmapOverlay } from './images.js';
import { lineChartSvg } from './plot.js';
import type { ImageMap, RateRow, ReportImage, ScenarioArtifacts, TaskChart, TaskExample } from './types.js';

type Plot = ScenarioArtifacts['plots'][number];

const CONTROL_COLOR = '#999999';

async function png(img: RgbImage): Promise<Uint8Array> {
  return new Uint8Array(await encodePng(img));
}

/** The original, the adversarial and the perturbation picture (captioned with its amplification). */
async function attackPictures(original: RgbImage, adversarial: RgbImage): Promise<ReportImage[]> {
  return [
    { role: 'original', png: await png(original) },
    { role: 'adversarial', png: await png(adversarial) },
    { role: 'perturbation', png: await png(perturbationPicture(original, adversarial)), caption: `perturbation ×${perturbationAmplification(original, adversarial).toFixed(1)}` },
  ];
}

/** Where the objective's units moved, over the adversarial image (red: in the attack's direction). */
async function unitChangePicture(adversarial: RgbImage, change: ImageMap): Promise<ReportImage> {
  const max = change.values.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  return {
    role: 'heatmap', png: await png(heatmapOverlay(adversarial, change.values, change.h, change.w, { signed: true, scale: max || 1 })),
    caption: 'unit change (red: the attack\'s way)', scale: { kind: 'signed', max },
  };
}

/** The pictures of one example of a task. */
export async function examplePictures(e: TaskExample): Promise<ReportImage[]> {
  switch (e.kind) {
    case 'input':
      return [{ role: 'original', png: await png(e.original) }];
    case 'attack':
      // Logit attacks have no units to show; the perturbation picture says where pixels changed.
      return [...await attackPictures(e.original, e.adversarial), ...(e.unitChange ? [await unitChangePicture(e.adversarial, e.unitChange)] : [])];
    case 'ablation': {
      const pics: ReportImage[] = [{ role: 'original', png: await png(e.original) }];
      if (e.units) pics.push({ role: 'heatmap', png: await png(heatmapOverlay(e.original, e.units.values, e.units.h, e.units.w)) });
      return pics;
    }
    case 'counterexample':
      return [
        { role: 'original', png: await png(e.original) },
        { role: 'counterexample', png: addPngText(await png(e.corrupted), e.text) },
        { role: 'perturbation', png: await png(perturbationPicture(e.original, e.corrupted)) },
      ];
  }
}

function ratesPlot(attack: string, epsilon: number | undefined, rows: readonly RateRow[], control: boolean): Plot {
  return {
    title: `Rates (${attack}${epsilon !== undefined ? `, ε = ${formatEpsilon(epsilon)}` : ''})`,
    svg: barChartSvg({
      title: 'Accuracy and attack success', yLabel: 'rate', categories: rows.map((r) => r.label),
      series: [
        { name: attack, values: rows.map((r) => r.value) },
        ...(control ? [{ name: 'random-unit control', values: rows.map((r) => r.control ?? Number.NaN), color: CONTROL_COLOR }] : []),
      ],
    }),
  };
}

function unitEffectPlot(c: Extract<TaskChart, { kind: 'unit-effect' }>): Plot {
  const groups = (e: typeof c.unit) => [e.suppressed, e.excited, e.other];
  const series = (name: string, e: typeof c.unit, color?: string) => ({
    name, values: groups(e).map((g) => g.mean), intervals: groups(e).map((g) => g.ci), ...(color ? { color } : {}),
  });
  return {
    title: 'Unit effect: change of spatial-max activation' + (c.scaled ? ' (÷ unit threshold)' : ''),
    svg: barChartSvg({
      title: 'Unit effect', yLabel: 'mean change', categories: ['suppressed', 'excited', 'other'],
      series: [series('unit attack', c.unit), ...(c.control ? [series('random-unit control', c.control, CONTROL_COLOR)] : [])],
    }),
  };
}

function ablationCurvePlot({ className: cls, curve, topN, accuracy }: Extract<TaskChart, { kind: 'ablation-curve' }>): Plot {
  return {
    title: `Ablation curve of ${cls} (held-out probe images of the dissection) and this scenario`,
    svg: lineChartSvg({
      title: `Zeroing the top-N units of ${cls}`, xLabel: 'N (top units zeroed or kept)', yLabel: 'accuracy', yDomain: [0, 1],
      series: [
        { name: `${cls}, top N zeroed`, points: curve.N.map((n, i) => [n, curve.ablateAccuracy[i]] as const) },
        { name: `${cls}, only top N kept`, points: curve.N.map((n, i) => [n, curve.keepAccuracy[i]] as const), dash: 'dashed' },
        { name: 'other classes, top N zeroed', points: curve.N.map((n, i) => [n, curve.othersAccuracy[i]] as const), dash: 'dotted' },
        { name: 'this scenario', points: [[topN, accuracy]], markers: true, width: 0 },
      ],
    }),
  };
}

async function generatorAblationPlots({ result: r, examples }: Extract<TaskChart, { kind: 'generator-ablation' }>): Promise<Plot[]> {
  const plots: Plot[] = [{ title: `Removal curve of ${r.concept.name}`, svg: lineChartSvg(ablationChart(r)) }];
  if (examples.before.length === 0) return plots;
  for (const kind of Object.keys(examples.after) as RankingKind[]) {
    const after = examples.after[kind]!;
    plots.push({
      title: `The same latents before and after, ${kind} ranking`,
      svg: await pictureGridSvg(examples.before.map((b, j) => [b, ...after.map((k) => k[j])]), ['before', ...examples.sizes.map((n) => `${n} zeroed`)],
        examples.latents.map((l) => `latent ${l}`), 2),
    });
  }
  return plots;
}

async function generatorInsertionPlots({ result: r, examples }: Extract<TaskChart, { kind: 'generator-insertion' }>): Promise<Plot[]> {
  const plots: Plot[] = [{ title: `${r.concept.name} added, by what was at the cell before`, svg: insertionChartSvg(r) }];
  if (examples.rows.length > 0) {
    plots.push({
      title: 'Example placements',
      svg: await pictureGridSvg(examples.rows.map((e) => [e.before, e.after]), ['before', 'after'], examples.rows.map((e) => `${e.latent} (${e.cell.join(',')}) ${e.context}`), 3),
    });
  }
  return plots;
}

/** The plots of one chart of a task (a generator's charts come with their example grids). */
export async function chartPlots(c: TaskChart): Promise<Plot[]> {
  switch (c.kind) {
    case 'rates': return [ratesPlot(c.attack, c.epsilon, c.rows, c.control)];
    case 'unit-effect': return [unitEffectPlot(c)];
    case 'ablation-curve': return [ablationCurvePlot(c)];
    case 'generator-ablation': return generatorAblationPlots(c);
    case 'generator-insertion': return generatorInsertionPlots(c);
  }
}

/** Draws a task's examples and charts: the pictures and plots of the scenario's HTML report. */
export async function drawTaskArtifacts(examples: readonly TaskExample[], charts: readonly TaskChart[]): Promise<ScenarioArtifacts> {
  const images: ReportImage[][] = [];
  for (const e of examples) images.push(await examplePictures(e));
  const plots: Plot[] = [];
  for (const c of charts) plots.push(...await chartPlots(c));
  return { images, plots };
}
