import { createContext, useContext } from 'react';

export interface SessionState {
  user: string;
  project: string;
  setProject: (p: string) => void;
}

export const SessionContext = createContext<SessionState>({ user: '', project: 'default', setProject: () => undefined });

export function useSession(): SessionState {
  return useContext(SessionContext);
}
