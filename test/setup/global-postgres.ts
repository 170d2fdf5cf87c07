// Placeholder replaced by the Foundation work: starts a throwaway PostgreSQL cluster.
export default function setup(): void {}
