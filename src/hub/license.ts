/**
 * A model's licence: the `license` (+ `license_name`, `license_link`) of its model card (README.md
 * YAML front matter), GGUF `general.license*` metadata, and the LICENSE / USE_POLICY files beside
 * it. For Llama 4 models the terms that bind whoever deploys one are spelled out (printed at pull
 * time and by `llama4 inspect`).
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export interface LicenseInfo {
  /** SPDX-like id from the model card or GGUF (`llama4`, `apache-2.0`, `other`), or null. */
  readonly id: string | null;
  /** `license_name` (for `other`) or GGUF `general.license.name`. */
  readonly name: string | null;
  readonly link: string | null;
  /** Where the id came from: `README.md`, `GGUF general.license`, or null. */
  readonly source: string | null;
  /** Licence files found next to the model (LICENSE, USE_POLICY.md, NOTICE …). */
  readonly files: readonly string[];
  /** First line of the LICENSE file (its title), or null. */
  readonly title: string | null;
}

/** Top-level `key: value` scalars of a README's YAML front matter. */
export function frontMatter(text: string): Record<string, string> {
  const m = /^\uFEFF?---\r?\n([\s\S]*?)\r?\n---\s*(?:\r?\n|$)/.exec(text);
  const out: Record<string, string> = {};
  if (!m) return out;
  for (const line of m[1].split(/\r?\n/)) {
    const kv = /^([A-Za-z_][\w-]*):[ \t]*(.*?)\s*$/.exec(line);
    if (!kv || kv[2] === '' || kv[2] === '|' || kv[2] === '>') continue;
    out[kv[1]] = kv[2].replace(/^(['"])(.*)\1$/, '$2');
  }
  return out;
}

const LICENSE_FILE = /^(LICEN[SC]E|NOTICE|USE_POLICY)(\.[A-Za-z]+)?$/i;

/** The licence of a model folder (or the folder a GGUF file is in), plus GGUF metadata when given. */
export function findLicense(dir: string | null, gguf?: ReadonlyMap<string, unknown>): LicenseInfo {
  let id: string | null = null, name: string | null = null, link: string | null = null, source: string | null = null;
  let files: string[] = [];
  let title: string | null = null;
  try {
    if (dir !== null) files = readdirSync(dir).filter((f) => LICENSE_FILE.test(f) && statSync(join(dir, f)).isFile()).sort();
  } catch { /* no folder */ }
  const readme = dir === null ? null : join(dir, 'README.md');
  if (readme !== null && existsSync(readme)) {
    try {
      const fm = frontMatter(readFileSync(readme, 'utf8'));
      if (fm.license) { id = fm.license; source = 'README.md'; }
      name = fm.license_name ?? null;
      link = fm.license_link ?? null;
    } catch { /* unreadable card */ }
  }
  const str = (k: string) => { const v = gguf?.get(k); return typeof v === 'string' && v.trim() !== '' ? v.trim() : null; };
  if (id === null && str('general.license')) { id = str('general.license'); source = 'GGUF general.license'; }
  name ??= str('general.license.name');
  link ??= str('general.license.link');
  const lic = files.find((f) => /^LICEN[SC]E/i.test(f));
  if (lic && dir !== null) {
    try {
      const head = readFileSync(join(dir, lic), 'utf8').slice(0, 4096);
      title = head.split(/\r?\n/).map((l) => l.trim()).find((l) => l.length > 0)?.slice(0, 120) ?? null;
    } catch { /* unreadable */ }
  }
  return { id, name, link, source, files, title };
}

/** One line: `llama4 (README.md); files: LICENSE, USE_POLICY.md`. */
export function describeLicense(l: LicenseInfo): string {
  const parts: string[] = [];
  if (l.id) parts.push(`${l.id}${l.name && l.name !== l.id ? ` (${l.name})` : ''}${l.source ? ` [${l.source}]` : ''}`);
  else if (l.title) parts.push(l.title);
  else parts.push('not stated');
  if (l.link) parts.push(l.link);
  if (l.files.length > 0) parts.push(`files: ${l.files.join(', ')}`);
  return parts.join('; ');
}

/** Whether the Llama 4 Community License applies (its id/name/title, or a Llama 4 architecture). */
export function isLlama4License(l: LicenseInfo, family?: string | null): boolean {
  if (family === 'llama4') return true;
  const text = `${l.id ?? ''} ${l.name ?? ''} ${l.title ?? ''}`.toLowerCase();
  return /\bllama[ -_]?4\b/.test(text) || /llama 4 community licen[sc]e/.test(text);
}

export const LLAMA4_LICENSE_URL = 'https://www.llama.com/llama4/license/';
export const LLAMA4_USE_POLICY_URL = 'https://www.llama.com/llama4/use-policy/';

/** The Llama 4 Community License terms that bind deployers, as lines to print. */
export function llama4Terms(l?: LicenseInfo): string[] {
  const policy = l?.files.find((f) => /^USE_POLICY/i.test(f));
  return [
    `Llama 4 is licensed under the Llama 4 Community License Agreement (${l?.link && /^https?:/.test(l.link) ? l.link : LLAMA4_LICENSE_URL}). Terms that bind anyone who deploys it:`,
    '  - 700 million MAU: if your or your affiliates\' products or services had more than 700 million monthly active users on the Llama 4 release date, you must request a licence from Meta before exercising any rights under the agreement.',
    `  - Acceptable Use Policy: all use must comply with the Llama 4 Acceptable Use Policy (${LLAMA4_USE_POLICY_URL}${policy ? `; ${policy} in the download` : ''}).`,
    '  - Attribution: if you distribute or make available Llama 4 (or a product or service that uses it), display "Built with Llama" prominently on a related website, user interface, blog post, about page or product documentation; AI models you create, train or fine-tune with it must have names beginning with "Llama"; redistributions must include a copy of the licence and the notice "Llama 4 is licensed under the Llama 4 Community License, Copyright © Meta Platforms, Inc. All Rights Reserved."',
  ];
}
