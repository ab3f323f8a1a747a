// What /proc says about a process: the CPU figures the benchmarks compare.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's times (USER_HZ). */
export const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** The fields of a /proc/PID/stat line after the command name (field 3, the state, is index 0); the name may hold ") ". */
export function statFields(statLine: string): string[] {
  return statLine.slice(statLine.lastIndexOf(') ') + 2).split(' ');
}

/** CPU seconds (user + system, all threads) a process has used so far; throws once it is gone. */
export function cpuSecondsOf(pid: number = process.pid): number {
  const f = statFields(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  return (Number(f[11]) + Number(f[12])) / CLOCK_TICKS;
}
