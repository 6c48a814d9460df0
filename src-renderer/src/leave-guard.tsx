// A view with unsaved edits says so here; the window asks before it shows another view, instead
// of dropping the edits silently.

import { createContext, useContext, useEffect } from 'react';

export interface LeaveGuard { set(dirty: boolean): void }

export const LeaveGuardContext = createContext<LeaveGuard>({ set: () => undefined });

/** While `dirty`, leaving the current view asks first. */
export function useLeaveGuard(dirty: boolean): void {
  const guard = useContext(LeaveGuardContext);
  useEffect(() => {
    guard.set(dirty);
    return () => guard.set(false);
  }, [guard, dirty]);
}
