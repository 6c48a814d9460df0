// A form's submit, the same for every form in the UI: the input is checked field by field
// first (nothing is sent while any field is wrong), then sent once at a time (the submit button
// shows busy and cannot fire twice), and the engine's refusal is shown under the form.

import { useState, type SubmitEvent } from 'react';
import type { FormResult } from '../../src-shared/forms.js';
import { errorMessage } from './store.js';

export interface CheckedForm<F extends string> {
  readonly errors: Partial<Record<F, string>>;
  readonly serverError: string | null;
  readonly busy: boolean;
  /** A submit handler: `check` the form, then `send` what it checked. */
  readonly submit: <T>(check: () => FormResult<T, F>, send: (value: T) => Promise<void>) => (e: SubmitEvent) => void;
  /** Forget the field errors and the engine's refusal (the form was closed or emptied). */
  readonly clear: () => void;
}

export function useCheckedForm<F extends string>(): CheckedForm<F> {
  const [errors, setErrors] = useState<Partial<Record<F, string>>>({});
  const [serverError, setServerError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = <T>(check: () => FormResult<T, F>, send: (value: T) => Promise<void>) => (e: SubmitEvent): void => {
    e.preventDefault();
    if (busy) return;
    setServerError(null);
    const checked = check();
    if (!checked.ok) {
      setErrors(checked.errors);
      return;
    }
    setErrors({});
    setBusy(true);
    send(checked.value)
      .catch((err: unknown) => setServerError(errorMessage(err)))
      .finally(() => setBusy(false));
  };
  const clear = (): void => {
    setErrors({});
    setServerError(null);
  };
  return { errors, serverError, busy, submit, clear };
}
