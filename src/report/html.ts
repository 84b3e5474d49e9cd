/**
 * The self-contained HTML report: one file with inline CSS and JS and every picture as a data URI (originals,
 * adversarial or corrupted images, perturbation pictures, heatmaps, plots), so it can be kept as a CI artifact and
 * opened anywhere without a server.
 */
import { escapeXml } from './plot.js';
import { describeExpectation, formatGate, formatMeasured, formatNumber, formatSeconds, formatWithInterval } from './format.js';
import type { ImageRole, ReportImage, RunOutput, RunResults, ScenarioArtifacts, ScenarioResult } from './types.js';

const esc = escapeXml;

const CSS = `
:root { --ok: #1a7f37; --bad: #cf222e; --err: #8250df; --muted: #57606a; --line: #d0d7de; --bg: #f6f8fa; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1f2328; background: #fff; }
header { padding: 20px 28px; border-bottom: 1px solid var(--line); background: var(--bg); }
header h1 { margin: 0 0 6px; font-size: 22px; }
main { padding: 12px 28px 40px; max-width: 1280px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; color: #fff; vertical-align: middle; }
.badge.passed { background: var(--ok); } .badge.failed { background: var(--bad); } .badge.error { background: var(--err); }
section.scenario.failed { border-left: 4px solid var(--bad); } section.scenario.error { border-left: 4px solid var(--err); } section.scenario.passed { border-left: 4px solid var(--ok); }
.muted { color: var(--muted); }
nav ul { list-style: none; padding: 0; margin: 8px 0 0; display: flex; flex-wrap: wrap; gap: 6px 16px; }
nav a { text-decoration: none; color: inherit; }
.controls { margin: 14px 0; }
.controls button { font: inherit; padding: 3px 10px; border: 1px solid var(--line); background: #fff; border-radius: 6px; cursor: pointer; }
.controls button[aria-pressed="true"] { background: #ddf4ff; border-color: #54aeff; }
section.scenario { border: 1px solid var(--line); border-radius: 8px; margin: 18px 0; padding: 0 18px 12px; }
section.scenario > h2 { font-size: 18px; margin: 14px 0 4px; }
table { border-collapse: collapse; margin: 8px 0 12px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 12px 4px 0; text-align: left; vertical-align: top; }
td.num { font-variant-numeric: tabular-nums; text-align: right; }
tr.fail td { color: var(--bad); font-weight: 600; }
.verdict-pass { color: var(--ok); } .verdict-fail { color: var(--bad); }
details { margin: 8px 0; } summary { cursor: pointer; font-weight: 600; }
pre { background: var(--bg); padding: 8px 10px; border-radius: 6px; overflow: auto; max-height: 320px; font-size: 12px; }
.plots { display: flex; flex-wrap: wrap; gap: 12px; }
.plots figure { margin: 0; } .plots img { max-width: 100%; border: 1px solid var(--line); border-radius: 4px; }
.images { display: grid; grid-template-columns: repeat(auto-fill, minmax(440px, 1fr)); gap: 14px; }
.example { border: 1px solid var(--line); border-radius: 6px; padding: 8px; }
.example .row { display: flex; gap: 6px; }
.example figure { margin: 0; text-align: center; font-size: 11px; color: var(--muted); }
.scale { display: flex; align-items: center; justify-content: center; gap: 3px; font-size: 10px; }
.scale i { display: inline-block; width: 56px; height: 8px; border: 1px solid var(--line); }
.scale i.signed { background: linear-gradient(90deg, rgb(33,102,172), rgb(247,247,247), rgb(178,24,43)); }
.scale i.magnitude { background: linear-gradient(90deg, rgb(0,0,4), rgb(159,42,99), rgb(245,125,21), rgb(252,255,164)); }
.example img { width: 96px; height: 96px; image-rendering: pixelated; border: 1px solid var(--line); }
.example .caption { font-size: 12px; margin-top: 4px; }
.hit { color: var(--bad); font-weight: 600; } .miss { color: var(--muted); }
.error-box { border-left: 4px solid var(--err); background: #fbefff; padding: 8px 12px; margin: 10px 0; white-space: pre-wrap; }
footer { color: var(--muted); font-size: 12px; padding: 0 28px 24px; }
body.only-failed section.scenario.passed { display: none; }
`;

const JS = `
(function () {
  var buttons = document.querySelectorAll('[data-filter]');
  for (var i = 0; i < buttons.length; i++) {
    buttons[i].addEventListener('click', function (ev) {
      var only = ev.currentTarget.getAttribute('data-filter') === 'failed';
      document.body.classList.toggle('only-failed', only);
      for (var j = 0; j < buttons.length; j++) buttons[j].setAttribute('aria-pressed', String(buttons[j] === ev.currentTarget));
    });
  }
})();
`;

const ROLE_TITLES: Record<ImageRole, string> = {
  original: 'original', adversarial: 'adversarial', perturbation: 'perturbation', heatmap: 'heatmap', counterexample: 'counterexample',
};

/** A heatmap's colour scale under its caption: the gradient between its end values. */
function colourScale(scale: ReportImage['scale']): string {
  if (!scale) return '';
  const v = formatNumber(scale.max);
  const [lo, hi, cls] = scale.kind === 'signed' ? [`−${v}`, `+${v}`, 'signed'] : ['0', v, 'magnitude'];
  return `<span class="scale"><span>${esc(lo)}</span><i class="${cls}"></i><span>${esc(hi)}</span></span>`;
}

function dataUri(mime: string, bytes: Uint8Array | string): string {
  const b = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return `data:${mime};base64,${b.toString('base64')}`;
}

function slug(name: string, i: number): string {
  return `s${i}-` + name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 40);
}

function jsonBlock(v: unknown): string {
  return esc(JSON.stringify(v, (_k, x: unknown) => (typeof x === 'number' && !Number.isFinite(x) ? String(x) : x), 2));
}

function scenarioSection(s: ScenarioResult, a: ScenarioArtifacts | undefined, results: RunResults, i: number): string {
  const h: string[] = [];
  h.push(`<section class="scenario ${s.status}" id="${slug(s.name, i)}">`);
  h.push(`<h2>${esc(s.name)} <span class="badge ${s.status}">${s.status === 'error' ? 'could not run' : s.status}</span></h2>`);
  h.push(`<div class="muted">${esc(s.file)} · ${esc(s.task)}${s.model ? ` · model ${esc(s.model.spec)} (${esc(s.model.fingerprint)})` : ''} · ${esc(formatSeconds(s.durations.total ?? 0))}</div>`);
  if (s.description) h.push(`<p>${esc(s.description)}</p>`);
  if (s.error) {
    const where = [s.error.path ? `at ${s.error.path}` : '', s.error.file ? `${s.error.file}${s.error.line !== undefined ? `:${s.error.line}` : ''}` : ''].filter(Boolean).join(' ');
    h.push(`<div class="error-box">✖ ${esc(s.error.message)}${where ? ` → ${esc(where)}` : ''}${s.error.hint ? `\nhint: ${esc(s.error.hint)}` : ''}</div>`);
  }
  if (s.expectations.length > 0) {
    h.push('<table><thead><tr><th>metric</th><th>measured</th><th>threshold</th><th>verdict</th></tr></thead><tbody>');
    for (const e of s.expectations) {
      h.push(`<tr class="${e.passed ? 'pass' : 'fail'}" title="${esc(describeExpectation(e))}"><td>${esc(e.metric)}</td><td class="num">${esc(formatWithInterval(e.metric, e.measured, s.intervals?.[e.metric]))}</td>`
        + `<td>${esc(formatGate(e))}</td><td class="${e.passed ? 'verdict-pass' : 'verdict-fail'}">${e.passed ? '✔ pass' : '✖ fail'}</td></tr>`);
    }
    h.push('</tbody></table>');
  }
  const regressions = results.baseline?.regressions.filter((r) => r.scenario === s.name) ?? [];
  if (regressions.length > 0) {
    h.push('<p class="verdict-fail">Regressions against the baseline:</p><ul>');
    for (const r of regressions) h.push(`<li class="verdict-fail">${esc(r.metric)}: ${esc(formatMeasured(r.metric, r.baseline))} → ${esc(formatMeasured(r.metric, r.measured))} (tolerance ${esc(formatNumber(r.tolerance))})</li>`);
    h.push('</ul>');
  }
  const other = Object.entries(s.metrics).filter(([k]) => !s.expectations.some((e) => e.metric === k));
  if (other.length > 0) {
    h.push('<details><summary>Other measurements</summary><table><tbody>');
    for (const [k, v] of other) h.push(`<tr><td>${esc(k)}</td><td class="num">${esc(formatMeasured(k, v))}</td></tr>`);
    h.push('</tbody></table></details>');
  }
  const inp = s.inputs;
  h.push(`<p class="muted">Inputs: ${inp.used} of ${inp.total} used (${esc(inp.kind)})${inp.errored.length ? `; ${inp.errored.length} could not be used (allowErrors ${inp.allowErrors})` : ''}.`
    + ` Seeds: ${Object.entries(s.seeds).map(([k, v]) => `${esc(k)} ${v}`).join(', ') || '—'}.</p>`);
  if (inp.errored.length > 0) {
    h.push(`<ul>${inp.errored.map((e) => `<li><code>${esc(e.id)}</code>: ${esc(e.reason)}</li>`).join('')}</ul>`);
  }
  for (const w of s.warnings) h.push(`<p class="muted">⚠ ${esc(w)}</p>`);
  h.push(...checksTable(s.details.checks));
  if (a && a.plots.length > 0) {
    h.push('<div class="plots">');
    for (const p of a.plots) h.push(`<figure><img alt="${esc(p.title)}" src="${dataUri('image/svg+xml', p.svg)}"><figcaption class="muted">${esc(p.title)}</figcaption></figure>`);
    h.push('</div>');
  }
  if (s.images.length > 0 && a) {
    h.push('<h3>Examples</h3><div class="images">');
    s.images.forEach((img, k) => {
      const pics = a.images[k] ?? [];
      h.push('<div class="example"><div class="row">');
      for (const p of pics) {
        const title = p.caption ?? ROLE_TITLES[p.role];
        h.push(`<figure><img alt="${esc(`${img.id} ${title}`)}" src="${dataUri('image/png', p.png)}"><figcaption>${esc(title)}${colourScale(p.scale)}</figcaption></figure>`);
      }
      const outcome = img.finalPrediction !== undefined
        ? ` → <span class="${img.success ? 'hit' : 'miss'}">${esc(img.finalPrediction)}</span>` : '';
      h.push(`</div><div class="caption"><code>${esc(img.id)}</code><br>label ${esc(img.label)}, predicted ${esc(img.cleanPrediction)}${outcome}</div></div>`);
    });
    h.push('</div>');
  }
  h.push(`<details><summary>Details</summary><pre>${jsonBlock({ details: s.details, durations: s.durations })}</pre></details>`);
  h.push('</section>');
  return h.join('\n');
}

/** The gradient-masking checks of an attack scenario (`details.checks`) as a table: which fired, and why. */
function checksTable(checks: unknown): string[] {
  if (!Array.isArray(checks) || checks.length === 0) return [];
  const rows = checks.filter((c): c is { check: string; flagged: boolean; message: string } =>
    typeof c === 'object' && c !== null && typeof (c as { check?: unknown }).check === 'string');
  const fired = rows.filter((c) => c.flagged).length;
  return [
    `<details${fired > 0 ? ' open' : ''}><summary>Checks against false robustness: ${fired === 0 ? 'none fired' : `${fired} fired`}</summary>`,
    '<table><thead><tr><th>check</th><th>result</th><th>what was measured</th></tr></thead><tbody>',
    ...rows.map((c) => `<tr class="${c.flagged ? 'fail' : 'pass'}"><td>${esc(c.check)}</td><td>${c.flagged ? '⚠ fired' : '✔ quiet'}</td><td>${esc(c.message)}</td></tr>`),
    '</tbody></table></details>',
  ];
}

/**
 * The HTML report of a run as one self-contained document.
 *
 * @example
 * await writeAtomic('out/report.html', htmlReport({ results, artifacts }));
 */
export function htmlReport(output: RunOutput): string {
  const { results, artifacts } = output;
  const m = results.summary;
  const title = `unit-attack: ${results.passed ? 'passed' : 'failed'} — ${m.passed}/${m.scenarios} scenarios`;
  const h: string[] = [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${esc(title)}</title>`,
    // An empty favicon, so that opening the file makes no request (and logs no 404).
    '<link rel="icon" href="data:,">',
    `<style>${CSS}</style></head><body>`,
    '<header>',
    `<h1>unit-attack scenarios <span class="badge ${results.passed ? 'passed' : 'failed'}">${results.passed ? 'passed' : 'failed'}</span></h1>`,
    `<div>${m.scenarios} scenario${m.scenarios === 1 ? '' : 's'}: ${m.passed} passed, ${m.failed} failed${m.errored ? `, ${m.errored} could not run` : ''}; `
      + `${m.expectations - m.failedExpectations}/${m.expectations} expectations held.`
      + (results.baseline ? ` Baseline <code>${esc(results.baseline.file)}</code>: ${results.baseline.regressions.length} regression(s) in ${results.baseline.compared} figures.` : '')
      + '</div>',
    `<div class="muted">${esc(results.created)} · ${esc(formatSeconds(results.durations.total))}`
      + (results.backend ? ` · backend ${esc(results.backend.name)} (tfjs ${esc(results.backend.tfjsVersion)}, ${esc(results.backend.reason)})` : '')
      + ` · ${Object.entries(results.versions).map(([k, v]) => `${esc(k)} ${esc(v)}`).join(', ')}</div>`,
    '<nav><ul>',
    ...results.scenarios.map((s, i) => `<li><span class="badge ${s.status}">${s.status === 'passed' ? '✔' : s.status === 'failed' ? '✖' : '!'}</span> <a href="#${slug(s.name, i)}">${esc(s.name)}</a></li>`),
    '</ul></nav>',
    '</header><main>',
    '<div class="controls">Show: <button type="button" data-filter="all" aria-pressed="true">all</button> <button type="button" data-filter="failed" aria-pressed="false">failed only</button></div>',
    ...results.scenarios.map((s, i) => scenarioSection(s, artifacts[i], results, i)),
    '</main>',
    `<footer>${esc(results.tool.name)} ${esc(results.tool.version)} · exit code ${results.exitCode}</footer>`,
    `<script>${JS}</script>`,
    '</body></html>',
  ];
  return h.join('\n') + '\n';
}
