// Which order replica should lead, as a pure function of what the replicas' Health says: the
// frontend's half of leader selection (the replicas' half is the vote, order/core.ts). The
// frontend runs it, and so does the simulator (sim/), with the same inputs.
//
// 1. A ready leader of the newest epoch is adopted as it is: no new epoch while it lives, so
//    several frontends never fight over the epoch.
// 2. A leader or candidate of the newest epoch that is not ready yet is waited for (the caller
//    bounds the wait): it is establishing, and electing over it would only start a storm.
// 3. Otherwise the highest id among the replicas that may lead safely is asked to campaign in
//    a new epoch. "May lead safely": its log is at least as up to date as the logs of a
//    majority of all replicas. The vote enforces this anyway (a voter refuses a candidate with
//    an older log); choosing only such a candidate avoids elections that cannot succeed.

export type ReplicaView = {
  readonly id: number;
  /** False when its Health did not answer. */
  readonly up: boolean;
  readonly epoch: number;
  readonly leaderId: number;
  readonly role: string;
  readonly ready: boolean;
  readonly lastNumber: number;
  readonly lastEpoch: number;
};

export type LeaderChoice =
  | { readonly kind: "adopt"; readonly id: number; readonly epoch: number }
  | { readonly kind: "wait"; readonly id: number; readonly epoch: number }
  | { readonly kind: "elect"; readonly id: number; readonly epoch: number }
  | { readonly kind: "none"; readonly reason: string };

export function majorityOf(total: number): number {
  return Math.floor(total / 2) + 1;
}

/** Raft's "at least as up to date": the later last epoch wins, then the longer log. */
export function logAtLeast(a: { lastEpoch: number; lastNumber: number }, b: { lastEpoch: number; lastNumber: number }): boolean {
  return a.lastEpoch !== b.lastEpoch ? a.lastEpoch > b.lastEpoch : a.lastNumber >= b.lastNumber;
}

/**
 * `total`: the number of configured replicas. `knownEpoch`: the newest epoch this frontend has
 * seen, so a new election's epoch is above it even when the replicas that knew it are down.
 * `patienceOver`: an establishing leader or candidate the caller has waited for long enough;
 * it is no longer waited for (a new election may replace it).
 */
export function chooseLeader(
  views: readonly ReplicaView[],
  total: number,
  knownEpoch: number,
  patienceOver?: { readonly id: number; readonly epoch: number },
): LeaderChoice {
  const up = views.filter((v) => v.up);
  const epoch = Math.max(knownEpoch, ...up.map((v) => v.epoch));
  const current = up.find((v) => v.epoch === epoch && v.leaderId === v.id && v.role === "leader");
  if (current?.ready) return { kind: "adopt", id: current.id, epoch };
  const establishing = current ?? up.find((v) => v.epoch === epoch && v.role === "candidate");
  const waited = establishing && patienceOver && patienceOver.id === establishing.id && patienceOver.epoch === epoch;
  if (establishing && !waited) return { kind: "wait", id: establishing.id, epoch };
  const majority = majorityOf(total);
  const eligible = up.filter((c) => up.filter((v) => logAtLeast(c, v)).length >= majority);
  if (up.length < majority) return { kind: "none", reason: `${up.length} of ${total} replicas answer; a majority (${majority}) is needed` };
  const best = eligible.reduce<ReplicaView | undefined>((a, c) => (a === undefined || c.id > a.id ? c : a), undefined);
  if (!best) return { kind: "none", reason: "no answering replica's log is as up to date as a majority's" };
  return { kind: "elect", id: best.id, epoch: epoch + 1 };
}
