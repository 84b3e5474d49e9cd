import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { escapeXml, lineChartSvg, niceTicks, svgToPng } from '../../src/report/plot.js';

describe('niceTicks', () => {
  it('covers the range with round steps', () => {
    expect(niceTicks(0, 1, 5)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0, 20, 8)).toEqual([0, 2.5, 5, 7.5, 10, 12.5, 15, 17.5, 20]);
    expect(niceTicks(0.3, 0.97, 5)).toEqual([0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(3, 3).length).toBeGreaterThanOrEqual(2);
    expect(niceTicks(NaN, 1)).toEqual([]);
  });
});

describe('lineChartSvg', () => {
  const chart = lineChartSvg({
    title: 'Robust accuracy <vs> ε', xLabel: 'ε (×1/255)', yLabel: 'accuracy', yDomain: [0, 1],
    series: [
      { name: 'PGD', points: [[0, 1], [2, 0.8], [4, NaN], [8, 0.2]] },
      { name: 'unit & attack', points: [[0, 1], [8, 0.6]], dash: 'dashed' },
    ],
  });

  it('draws one path per series, breaks lines at NaN and escapes text', () => {
    expect(chart.startsWith('<svg')).toBe(true);
    expect(chart).toContain('Robust accuracy &lt;vs&gt; ε');
    expect(chart).toContain('unit &amp; attack');
    const paths = [...chart.matchAll(/<path d="([^"]+)"/g)].map((m) => m[1]);
    expect(paths).toHaveLength(2);
    expect(paths[0].match(/M/g)).toHaveLength(2); // the NaN point starts a new segment
    expect(chart).toContain('stroke-dasharray="7 5"');
  });

  it('rasterises to a PNG of the asked size', async () => {
    const png = await svgToPng(chart);
    const meta = await sharp(png).metadata();
    expect(meta.format).toBe('png');
    expect([meta.width, meta.height]).toEqual([720, 440]);
  });

  it('escapes every XML special character', () => {
    expect(escapeXml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });
});
