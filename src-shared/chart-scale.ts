// The arithmetic of the live charts, apart from drawing: a y scale that starts at 0 and ends at
// a round number (so 1.5 → 13 ms reads as a rise of about 11 ms, not as a cliff), its gridline
// ticks, and a fixed time window that places each sample by its age.

/** Seconds of history a chart shows, whatever the number of samples. */
export const CHART_WINDOW_S = 120;

export interface YScale { max: number; ticks: number[] }

/** The smallest of 1, 2, 2.5, 5 × 10^k that is at least `v`. */
export function niceCeil(v: number): number {
  if (!(v > 0) || !Number.isFinite(v)) return 1;
  const k = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * k >= v * (1 - 1e-12)) return m * k;
  return 10 * k;
}

/**
 * From 0 to a round top at least `floor` (a peak below it does not stretch to fill the chart),
 * with `count` equal steps as gridlines.
 */
export function yScale(values: readonly (number | undefined)[], floor: number, count = 4): YScale {
  const peak = Math.max(0, ...values.filter((v): v is number => v !== undefined && Number.isFinite(v)));
  const max = niceCeil(Math.max(peak, floor) / count) * count;
  return { max, ticks: Array.from({ length: count + 1 }, (_, i) => (max / count) * i) };
}

/** x of a sample taken at `atMs`, in 0..1 of the window that ends at `nowMs`; null once it is older. */
export function timeX(atMs: number, nowMs: number, windowS = CHART_WINDOW_S): number | null {
  const x = 1 - (nowMs - atMs) / (windowS * 1000);
  return x < 0 ? null : Math.min(1, x);
}

/** Labels of the time axis: every 30 s of the window, oldest first ("−2 min" … "now"). */
export function timeTicks(windowS = CHART_WINDOW_S, stepS = 30): { x: number; label: string }[] {
  const out: { x: number; label: string }[] = [];
  for (let ago = windowS; ago >= 0; ago -= stepS) {
    const label = ago === 0 ? 'now' : ago % 60 === 0 ? `−${ago / 60} min` : `−${ago} s`;
    out.push({ x: 1 - ago / windowS, label });
  }
  return out;
}
