// A small bar chart in SVG (no chart library): one or two series per day, scaled to the largest value, with
// a text summary for screen readers and the numbers in a table below it.
export interface Series {
  label: string;
  values: number[];
  /** CSS class giving the bar colour. */
  className: string;
}

export function BarChart({ title, days, series, format = String }: { title: string; days: string[]; series: Series[]; format?: (n: number) => string }) {
  const width = 640;
  const height = 160;
  const max = Math.max(1, ...series.flatMap((s) => s.values));
  const slot = width / Math.max(1, days.length);
  const bar = Math.max(1, (slot - 2) / series.length);
  const totals = series.map((s) => `${s.label}: ${format(s.values.reduce((a, b) => a + b, 0))} in total`).join('; ');
  const id = title.replace(/\W+/g, '-').toLowerCase();
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${width} ${height + 20}`} role="img" aria-labelledby={`${id}-title ${id}-desc`} preserveAspectRatio="none">
        <title id={`${id}-title`}>{title}</title>
        <desc id={`${id}-desc`}>
          {days.length} days from {days[0]} to {days[days.length - 1]}; highest {format(max)}. {totals}.
        </desc>
        <line x1={0} y1={height} x2={width} y2={height} class="axis" />
        {series.map((s, si) =>
          s.values.map((v, i) => {
            const h = (v / max) * (height - 4);
            return <rect key={`${si}-${i}`} class={s.className} x={i * slot + 1 + si * bar} y={height - h} width={bar} height={h} />;
          }),
        )}
        <text x={0} y={height + 16} class="tick">
          {days[0]}
        </text>
        <text x={width} y={height + 16} class="tick" text-anchor="end">
          {days[days.length - 1]}
        </text>
      </svg>
      <figcaption>
        <strong>{title}</strong>
        {series.map((s) => (
          <span key={s.label} class="legend">
            <span class={`swatch ${s.className}`} aria-hidden="true" /> {s.label}
          </span>
        ))}
      </figcaption>
    </figure>
  );
}
