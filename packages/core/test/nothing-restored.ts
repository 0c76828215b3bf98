/** What migrate() reports of a restore on a database that was not restored, or found nothing left to do. */
export const NOTHING_RESTORED = {
  rebound: [],
  failed: [],
  untrustedRoles: [],
  aheadOfCluster: null,
  boundary: null,
  boundaryRefused: null,
  continuedCluster: false,
};
