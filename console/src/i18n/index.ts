import { signal } from '@preact/signals';
import { en, type MessageKey } from './en.ts';
import { zh } from './zh.ts';

export type Language = 'en' | 'zh';
export const CATALOGUES: Record<Language, Record<MessageKey, string>> = { en, zh };
export type { MessageKey };

function initialLanguage(): Language {
  const stored = localStorage.getItem('hourglass.lang');
  if (stored === 'en' || stored === 'zh') return stored;
  return navigator.language.toLowerCase().startsWith('zh') ? 'zh' : 'en';
}

export const language = signal<Language>(initialLanguage());

export function setLanguage(next: Language): void {
  language.value = next;
  localStorage.setItem('hourglass.lang', next);
  document.documentElement.lang = next === 'zh' ? 'zh-CN' : 'en';
}

/** A message of the current language, with {placeholders} filled in. */
export function t(key: MessageKey, vars: Record<string, string | number> = {}): string {
  const template = CATALOGUES[language.value][key];
  return template.replace(/\{(\w+)\}/g, (_, name: string) => String(vars[name] ?? `{${name}}`));
}
