// A picture of one run: rows/s and RSS over time, its phases shaded. A self-contained SVG (no
// script, no external font or stylesheet), or the same in an HTML page. Pure.
import { rates, type TimelineData } from '../timeline.js';

const W = 960;
const H = 420;
const M = { left: 78, right: 78, top: 56, bottom: 56 };
const PHASE_COLORS: Record<string, string> = { connect: '#e8e8f4', flush: '#fdf0d8', analyze: '#e4f3e4', open: '#e8e8f4', count: '#f0e8f4', list: '#f0e8f4' };

function esc(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!).replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, '');
}

/** Round numbers for an axis from 0 to at least `max`: [step, top]. */
export function niceScale(max: number, ticks = 5): [number, number] {
  if (!(max > 0)) return [1, ticks];
  const raw = max / ticks;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * pow).find((s) => s >= raw)!;
  return [step, Math.ceil(max / step) * step];
}

const fmt = (v: number) => (v >= 1e6 ? `${+(v / 1e6).toFixed(1)}M` : v >= 1e4 ? `${+(v / 1e3).toFixed(0)}k` : v >= 1000 ? `${+(v / 1e3).toFixed(1)}k` : `${+v.toFixed(1)}`);

export interface ChartTitle {
  title: string;
  subtitle: string;
}

export function runSvg(t: TimelineData, label: ChartTitle): string {
  const pts = t.points;
  // rows/s between samples, over three samples: reading runs in bursts between batches.
  const raw = rates(pts);
  const r = raw.map(([s, v], i): [number, number] => {
    const w = raw.slice(Math.max(0, i - 1), i + 2);
    return [s, w.reduce((a, [, x]) => a + x, 0) / w.length];
  });
  const end = Math.max(pts.length ? pts[pts.length - 1][0] : 0, ...t.phases.map((p) => p.end), 1);
  const [xStep, xTop] = niceScale(end, 8);
  const [rStep, rTop] = niceScale(Math.max(1, ...r.map(([, v]) => v)));
  const [mStep, mTop] = niceScale(Math.max(1, ...pts.map((p) => p[3])));
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const x = (s: number) => M.left + (s / xTop) * pw;
  const yr = (v: number) => M.top + ph - (v / rTop) * ph;
  const ym = (v: number) => M.top + ph - (v / mTop) * ph;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  out.push(`<title>${esc(label.title)}</title>`);
  out.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<text x="${M.left}" y="24" font-size="16" font-weight="bold" fill="#222">${esc(label.title)}</text>`);
  out.push(`<text x="${M.left}" y="42" fill="#555">${esc(label.subtitle)}</text>`);
  // Phases, shaded, behind everything.
  out.push('<g id="phases">');
  for (const p of t.phases) {
    const x0 = x(p.start);
    const w = Math.max(1, x(p.end) - x0);
    out.push(`<rect x="${x0.toFixed(1)}" y="${M.top}" width="${w.toFixed(1)}" height="${ph}" fill="${PHASE_COLORS[p.name] ?? '#eeeeee'}"><title>${esc(p.name)}: ${(p.end - p.start).toFixed(1)} s</title></rect>`);
    if (w > 30) out.push(`<text x="${(x0 + 4).toFixed(1)}" y="${M.top + 14}" fill="#777" font-size="11">${esc(p.name)}</text>`);
  }
  out.push('</g>');
  // Grid and axes.
  out.push('<g id="axes" stroke="#ccc" fill="#444">');
  for (let v = 0; v <= rTop + 1e-9; v += rStep) {
    const y = yr(v).toFixed(1);
    out.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${y}" y2="${y}" stroke="#eee"/>`);
    out.push(`<text x="${M.left - 8}" y="${y}" text-anchor="end" dominant-baseline="middle" stroke="none" fill="#1f5fa8">${fmt(v)}</text>`);
  }
  for (let v = 0; v <= mTop + 1e-9; v += mStep) {
    out.push(`<text x="${W - M.right + 8}" y="${ym(v).toFixed(1)}" dominant-baseline="middle" stroke="none" fill="#b4441c">${fmt(v)}</text>`);
  }
  for (let v = 0; v <= xTop + 1e-9; v += xStep) {
    const xx = x(v).toFixed(1);
    out.push(`<line x1="${xx}" x2="${xx}" y1="${M.top + ph}" y2="${M.top + ph + 5}"/>`);
    out.push(`<text x="${xx}" y="${M.top + ph + 18}" text-anchor="middle" stroke="none">${fmt(v)}</text>`);
  }
  out.push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
  out.push(`<text x="${M.left + pw / 2}" y="${H - 12}" text-anchor="middle" stroke="none">seconds since the start</text>`);
  out.push(`<text transform="translate(18 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle" stroke="none" fill="#1f5fa8">rows/s (read)</text>`);
  out.push(`<text transform="translate(${W - 16} ${M.top + ph / 2}) rotate(90)" text-anchor="middle" stroke="none" fill="#b4441c">RSS (MB)</text>`);
  out.push('</g>');
  // The series.
  const line = (xy: Array<[number, number]>) => xy.map(([a, b], i) => `${i ? 'L' : 'M'}${a.toFixed(1)} ${b.toFixed(1)}`).join(' ');
  if (r.length) out.push(`<path id="rows-per-second" d="${line(r.map(([s, v]) => [x(s), yr(v)]))}" fill="none" stroke="#1f5fa8" stroke-width="2"/>`);
  if (pts.length) out.push(`<path id="rss" d="${line(pts.map((p) => [x(p[0]), ym(p[3])]))}" fill="none" stroke="#b4441c" stroke-width="2" stroke-dasharray="6 3"/>`);
  // Legend: inside the plot, top right, on white.
  const lx = W - M.right - 200;
  const ly = M.top + 10;
  out.push(`<g id="legend"><rect x="${lx - 8}" y="${ly - 2}" width="200" height="22" fill="#ffffff" fill-opacity="0.85" stroke="#ddd"/>`);
  out.push(`<line x1="${lx}" x2="${lx + 24}" y1="${ly + 9}" y2="${ly + 9}" stroke="#1f5fa8" stroke-width="2"/><text x="${lx + 30}" y="${ly + 13}" fill="#333">rows/s</text>`);
  out.push(`<line x1="${lx + 90}" x2="${lx + 114}" y1="${ly + 9}" y2="${ly + 9}" stroke="#b4441c" stroke-width="2" stroke-dasharray="6 3"/><text x="${lx + 120}" y="${ly + 13}" fill="#333">RSS (MB)</text></g>`);
  if (!pts.length) out.push(`<text x="${M.left + pw / 2}" y="${M.top + ph / 2}" text-anchor="middle" fill="#999">no timeline was recorded for this run</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

export function runHtml(svg: string, label: ChartTitle): string {
  return `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>${esc(label.title)}</title>\n<style>body{font-family:Helvetica,Arial,sans-serif;margin:24px;color:#222}</style></head>\n<body>\n${svg}<p>${esc(label.subtitle)}</p>\n</body></html>\n`;
}
