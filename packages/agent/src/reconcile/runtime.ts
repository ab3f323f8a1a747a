import { readFileSync } from 'node:fs';
import { AgentError } from '../errors.js';
import { processRunner, type CommandRunner } from '../storage/command.js';

/** What the reconciler asks of the machine; passed in so tests never reboot anything. */
export interface Runtime {
  reboot(): Promise<void>;
  shutdown(): Promise<void>;
  bootId(): string;
}

/** systemd's reboot and poweroff (the unit's polkit rule lets the agent's user ask for them). */
export function systemRuntime(runner: CommandRunner = processRunner): Runtime {
  const systemctl = async (verb: string): Promise<void> => {
    const r = await runner.run('systemctl', [verb], { timeoutMs: 30_000 });
    if (r.code !== 0) throw new AgentError('CONFIG_INVALID', `systemctl ${verb} failed: ${r.stderr.trim().slice(0, 300)}`);
  };
  return {
    reboot: () => systemctl('reboot'),
    shutdown: () => systemctl('poweroff'),
    bootId: () => {
      try {
        return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
      } catch {
        return 'unknown';
      }
    },
  };
}
