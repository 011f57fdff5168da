// Which minutes a nearest item shows: road-network minutes when the server measured them,
// else the straight-line estimate, marked as such when the server has a road network (then a
// missing network time means the rider or the station is off the roads).

/**
 * The i18n key and whole minutes (at least 1) for `item` ({minutes, network_minutes,
 * minutes_source}) in `mode` ('walk' | 'ebike'), or null when the item has no minutes.
 */
export function minutesLabel(item, mode) {
  const base = mode === 'ebike' ? 'minutes.ebike' : 'minutes.walk';
  const n = (m) => Math.max(1, Math.round(m));
  if (Number.isFinite(item?.network_minutes)) return { key: `${base}_network`, n: n(item.network_minutes) };
  if (!Number.isFinite(item?.minutes)) return null;
  return { key: item.minutes_source ? `${base}_line` : base, n: n(item.minutes) };
}
