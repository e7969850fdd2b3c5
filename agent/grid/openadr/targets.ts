import type { Targets } from './spec';

/**
 * Whether an event is meant for this VEN, where the event says so itself. A 3.1.0 VTN does the
 * targeting (Definitions, "Object Privacy": it returns only what was granted to the requester, and
 * hides the targets), so its string targets are taken as they come. A 3.0.1 VTN may list every
 * event to every VEN, with valuesMap targets naming the VENs or resources meant: an event naming
 * others and not this one is left alone. Returns the reason to skip it, or undefined.
 */
export function forThisVen(targets: Targets, venName: string, resourceName: string): string | undefined {
  for (const t of targets ?? []) {
    if (typeof t === 'string') continue;
    const names = t.values.filter((v): v is string => typeof v === 'string');
    if (t.type === 'VEN_NAME' && !names.includes(venName)) return `targets VEN_NAME ${names.slice(0, 5).join(', ')}`;
    if (t.type === 'RESOURCE_NAME' && !names.includes(resourceName)) return `targets RESOURCE_NAME ${names.slice(0, 5).join(', ')}`;
  }
  return undefined;
}
