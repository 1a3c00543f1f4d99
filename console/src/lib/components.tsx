import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import { ApiError } from '../api/client.ts';
import { t, type MessageKey } from '../i18n/index.ts';
import { relative } from './format.ts';

export function StatusBadge({ status }: { status: string | undefined }) {
  const key = (status ? `status.${status}` : 'status.never') as MessageKey;
  return <span class={`badge status-${status ?? 'never'}`}>{t(key)}</span>;
}

export function Countdown({ iso }: { iso: string | null | undefined }) {
  return <time dateTime={iso ?? undefined}>{relative(iso)}</time>;
}

/** A line of recent values, oldest first (durations of a task's runs). */
export function Sparkline({ values, label }: { values: number[]; label: string }) {
  if (values.length < 2) return <span>{t('common.none')}</span>;
  const width = 120;
  const height = 24;
  const max = Math.max(...values, 1);
  const points = values.map((v, i) => `${((i / (values.length - 1)) * width).toFixed(1)},${(height - (v / max) * (height - 2) - 1).toFixed(1)}`).join(' ');
  return (
    <svg class="sparkline" width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img" aria-label={label}>
      <polyline points={points} fill="none" stroke="currentColor" stroke-width="1.5" />
    </svg>
  );
}

export function ErrorBox({ error }: { error: unknown }) {
  if (!error) return null;
  if (error instanceof ApiError && error.status === 403) return <p class="error" role="alert">{t('common.forbidden')}</p>;
  if (error instanceof ApiError && error.status === 404) return <p class="error" role="alert">{t('common.notFound')} {error.message}</p>;
  return <p class="error" role="alert">{t('common.error', { detail: error instanceof Error ? error.message : String(error) })}</p>;
}

/** A modal dialog (the native <dialog>: focus is trapped and Escape closes it). */
export function Dialog({ title, children, onClose }: { title: string; children: ComponentChildren; onClose: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
    const close = () => onClose();
    dialog?.addEventListener('close', close);
    return () => dialog?.removeEventListener('close', close);
  }, []);
  return (
    <dialog ref={ref} aria-labelledby="dialog-title">
      <h2 id="dialog-title">{title}</h2>
      {children}
    </dialog>
  );
}

export function Notice({ text }: { text: string | undefined }) {
  return <p class="notice" role="status" aria-live="polite">{text ?? ''}</p>;
}
