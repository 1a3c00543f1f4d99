import { useState } from 'preact/hooks';
import { signIn } from '../api/auth.ts';
import { t } from '../i18n/index.ts';
import { navigate, query } from '../lib/router.ts';

export function LoginView() {
  const [key, setKey] = useState('');
  const [failure, setFailure] = useState<string>();
  const submit = async (event: Event) => {
    event.preventDefault();
    try {
      await signIn(key);
      setKey('');
      navigate(query().get('next') ?? '/', { replace: true });
    } catch (caught) {
      setFailure(t('login.failed', { detail: (caught as Error).message }));
    }
  };
  return (
    <section class="login" aria-labelledby="view-title">
      <h1 id="view-title">{t('login.title')}</h1>
      <p>{t('login.intro')}</p>
      <form onSubmit={submit}>
        <label for="api-key">{t('login.apiKey')}</label>
        <input id="api-key" type="password" autoComplete="off" required value={key} onInput={(e) => setKey((e.currentTarget as HTMLInputElement).value)} />
        <button type="submit" class="primary">{t('login.submit')}</button>
      </form>
      {failure && <p class="error" role="alert">{failure}</p>}
    </section>
  );
}
