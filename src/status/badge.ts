import type { State } from "./model.ts";
import { escapeXml } from "./html.ts";

export const BADGE_COLOURS: Record<State, string> = {
  passing: "#2e9f46",
  failing: "#d9453a",
  running: "#d29b10",
  canceled: "#8a6fd1",
  unknown: "#9f9f9f",
};

// Verdana 11px advance widths (as used by shields.io), for the characters that differ most from the average
const NARROW = new Set([..."fijlrtI!.,:;'|()[] "]);
const WIDE = new Set([..."mwMW@%"]);
const UPPER = /[A-Z0-9]/;

/** Text width in pixels at Verdana 11px: close enough that the label never overflows its box. */
export function textWidth(text: string): number {
  let width = 0;
  for (const ch of text) {
    width += NARROW.has(ch) ? 3.9 : WIDE.has(ch) ? 10.5 : UPPER.test(ch) ? 7.5 : 6.6;
  }
  return Math.ceil(width);
}

/**
 * What XML 1.0 refuses (U+FFFE, U+FFFF, half of a surrogate pair, C0 controls) becomes U+FFFD:
 * one such character in a label made browsers refuse the whole SVG, a broken image.
 */
const xmlCharacters = (text: string): string =>
  // eslint-disable-next-line no-control-regex -- replacing control characters is the point
  text.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|\p{Surrogate}/gu, "\ufffd");

/** A flat shields-style badge: grey label, coloured state; crisp at any zoom (whole pixels, no blur). */
export function renderBadge(rawLabel: string, state: State): string {
  const label = xmlCharacters(rawLabel);
  // cut between characters, not inside an emoji's surrogate pair
  const characters = [...label];
  const shownLabel = characters.length > 40 ? `${characters.slice(0, 39).join("")}…` : label;
  const left = textWidth(shownLabel) + 12;
  const right = textWidth(state) + 12;
  const width = left + right;
  const colour = BADGE_COLOURS[state];
  const l = escapeXml(shownLabel);
  const title = `${escapeXml(label)}: ${state}`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="20" role="img" aria-label="${title}">
<title>${title}</title>
<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>
<clipPath id="r"><rect width="${width}" height="20" rx="3" fill="#fff"/></clipPath>
<g clip-path="url(#r)" shape-rendering="crispEdges"><rect width="${left}" height="20" fill="#555"/><rect x="${left}" width="${right}" height="20" fill="${colour}"/><rect width="${width}" height="20" fill="url(#s)"/></g>
<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" text-rendering="geometricPrecision" font-size="11">
<text x="${left / 2}" y="15" fill="#010101" fill-opacity=".3">${l}</text><text x="${left / 2}" y="14">${l}</text>
<text x="${left + right / 2}" y="15" fill="#010101" fill-opacity=".3">${state}</text><text x="${left + right / 2}" y="14">${state}</text>
</g>
</svg>`;
}
