import cronstrue from 'cronstrue';
import 'cronstrue/locales/zh_CN';
import { language } from '../i18n/index.ts';

const MACROS: Record<string, string> = {
  '@yearly': '0 0 1 1 *', '@annually': '0 0 1 1 *', '@monthly': '0 0 1 * *', '@weekly': '0 0 * * 0', '@daily': '0 0 * * *', '@midnight': '0 0 * * *', '@hourly': '0 * * * *',
};
const EVERY = /^@every\s+(\d+)(ms|s|m|h|d)$/;
const UNITS: Record<string, [string, string]> = { ms: ['milliseconds', '毫秒'], s: ['seconds', '秒'], m: ['minutes', '分钟'], h: ['hours', '小时'], d: ['days', '天'] };

/** A schedule in words, in the reader's language ("At 03:00 AM", "每 5 分钟"); the cron stays beside it. */
export function describeSchedule(schedule: string): string {
  const zh = language.value === 'zh';
  const every = EVERY.exec(schedule.trim());
  if (every) {
    const [en, cn] = UNITS[every[2] as string] ?? ['', ''];
    return zh ? `每 ${every[1]} ${cn}` : `Every ${every[1]} ${en}`;
  }
  try {
    return cronstrue.toString(MACROS[schedule.trim()] ?? schedule, { locale: zh ? 'zh_CN' : 'en', use24HourTimeFormat: true, throwExceptionOnParseError: true });
  } catch {
    return schedule;
  }
}
