// The `team` plugin's slice of the per-request state, added to core's RequestState by
// module augmentation. Every plugin writes only its own key.
import '@tollgate/core';

declare module '@tollgate/core' {
  interface RequestState {
    /** Set by the `team` plugin (examples/custom-plugin/plugin.mjs) once the header checks out. */
    team?: { id: string; tag: string };
  }
}
