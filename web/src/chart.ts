// A dependency-free bar chart as inline SVG, and the conversion of the server's hourly
// series into bars. The SVG is one image for assistive technology (role="img"), labelled
// with its title and a spoken summary, since a screen reader cannot read bars.

import { serverDate, type HourlySeries } from "./api-manage";

export interface Point {
  label: string;
  value: number;
}

const NS = "http://www.w3.org/2000/svg";

function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number> = {},
  ...children: (Node | string)[]
): SVGElementTagNameMap[K] {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  el.append(...children);
  return el;
}

/** An integer tick step of 1, 2 or 5 × 10ⁿ giving about four steps up to `max`. */
function tickStep(max: number): number {
  const raw = Math.max(1, max / 4);
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= raw) ?? raw;
  return Math.max(1, Math.round(step));
}

/** A bar chart scaled to its container's width (the text scales with it). */
export function barChart(points: Point[], title: string, yLabel = ""): SVGSVGElement {
  const W = 640, H = 260;
  const m = { top: 14, right: 10, bottom: 34, left: 48 };
  const pw = W - m.left - m.right, ph = H - m.top - m.bottom;
  const values = points.map((p) => p.value);
  const peak = values.length ? Math.max(...values) : 0;
  const step = tickStep(peak);
  const top = Math.max(step, Math.ceil(peak / step) * step);
  const y = (v: number) => m.top + ph - (v / top) * ph;

  const total = values.reduce((a, b) => a + b, 0);
  const peakAt = points.find((p) => p.value === peak);
  const summary = points.length
    ? `${title}. ${points.length} bars from ${points[0].label} to ${points[points.length - 1].label}; total ${total}, highest ${peak}${peakAt ? ` at ${peakAt.label}` : ""}.`
    : `${title}. No data.`;

  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": summary, class: "chart", preserveAspectRatio: "xMidYMid meet" },
    svg("title", {}, title));

  // Horizontal grid lines with their values on the y axis.
  for (let v = 0; v <= top; v += step) {
    root.append(
      svg("line", { x1: m.left, x2: W - m.right, y1: y(v), y2: y(v), class: v ? "grid-line" : "axis" }),
      svg("text", { x: m.left - 6, y: y(v) + 4, "text-anchor": "end", class: "tick" }, String(v)),
    );
  }
  if (yLabel) {
    root.append(svg("text", { x: 12, y: m.top + ph / 2, transform: `rotate(-90 12 ${m.top + ph / 2})`, "text-anchor": "middle", class: "axis-label" }, yLabel));
  }
  if (!points.length) {
    root.append(svg("text", { x: m.left + pw / 2, y: m.top + ph / 2, "text-anchor": "middle", class: "tick" }, "No data for this period"));
    return root;
  }

  const slot = pw / points.length;
  const barW = Math.max(0.6, slot * (slot > 4 ? 0.8 : 1));
  // As many x labels as fit side by side (at most 12), about 7.5 px per character at 13 px.
  const longest = Math.max(...points.map((p) => p.label.length));
  const maxLabels = Math.max(2, Math.min(12, Math.floor(pw / (longest * 7.5 + 10))));
  const every = Math.ceil(points.length / maxLabels);
  points.forEach((p, i) => {
    const x = m.left + i * slot + (slot - barW) / 2;
    const bar = svg("rect", { x, y: y(p.value), width: barW, height: Math.max(0, m.top + ph - y(p.value)), class: "bar" },
      svg("title", {}, `${p.label}: ${p.value}`));
    root.append(bar);
    if (i % every === 0) {
      // Kept inside the picture: a centred label on the first or last bar would be cut off.
      const half = p.label.length * 3.75;
      const cx = Math.min(Math.max(m.left + i * slot + slot / 2, half + 2), W - half - 2);
      root.append(svg("text", { x: cx, y: H - m.bottom + 18, "text-anchor": "middle", class: "tick" }, p.label));
    }
  });
  return root;
}

/**
 * Bars from the server's hourly series, labelled in local time. Beyond eight days the hours
 * are summed per local day, so a year stays readable (then `daily` is true).
 */
export function hourlyPoints(series: HourlySeries): { points: Point[]; daily: boolean } {
  const hours = series.flatMap((o) => Object.entries(o)).map(([k, n]) => ({ at: serverDate(k), n }));
  const day = (d: Date) => d.toLocaleDateString([], { day: "numeric", month: "short" });
  const time = (d: Date) => d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  if (hours.length > 8 * 24) {
    // Keyed by the full date: a 366-day range meets the same day of the month twice.
    const days = new Map<string, Point>();
    for (const { at, n } of hours) {
      const key = at.toDateString();
      let p = days.get(key);
      if (!p) days.set(key, (p = { label: day(at), value: 0 }));
      p.value += n;
    }
    return { points: [...days.values()], daily: true };
  }
  const oneDay = hours.length <= 24;
  return {
    points: hours.map(({ at, n }) => ({ label: oneDay ? time(at) : `${day(at)} ${time(at)}`, value: n })),
    daily: false,
  };
}
