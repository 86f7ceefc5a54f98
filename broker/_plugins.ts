/**
 * The security chain: the `authenticate` / `authorize` options and the plugins, asked in
 * order, folded into one authenticate function and one authorize function.
 *
 * @module
 */

import type {
  AuthContext,
  Authenticate,
  Authorize,
  AuthorizeRequest,
  AuthResult,
  BrokerPlugin,
} from "./types.ts";

type MaybeAuthenticate = (
  context: AuthContext,
) => AuthResult | undefined | Promise<AuthResult | undefined>;

/** The state a composed exchange keeps: which hook answered, and that hook's own state. */
interface ChainState {
  readonly hook: number;
  readonly state: unknown;
}

function isChainState(value: unknown): value is ChainState {
  return typeof value === "object" && value !== null && "hook" in value;
}

/**
 * One authenticate function for the chain, or `undefined` when nothing authenticates (every
 * client accepted). The first hook answering decides; all passing accepts.
 */
export function composeAuthenticate(
  first: Authenticate | undefined,
  plugins: readonly BrokerPlugin[],
): Authenticate | undefined {
  const hooks: MaybeAuthenticate[] = [];
  if (first !== undefined) hooks.push(first);
  for (const plugin of plugins) {
    if (plugin.authenticate !== undefined) hooks.push((c) => plugin.authenticate!(c));
  }
  if (hooks.length === 0) return undefined;
  if (hooks.length === 1 && first !== undefined) return first;
  const wrap = (hook: number, result: AuthResult): AuthResult => {
    if (typeof result === "object" && result !== null && result.outcome === "continue") {
      return { ...result, state: { hook, state: result.state } satisfies ChainState };
    }
    return result;
  };
  const from = async (context: AuthContext, start: number): Promise<AuthResult> => {
    for (let i = start; i < hooks.length; i++) {
      const result = await hooks[i]!(context);
      if (result !== undefined) return wrap(i, result);
    }
    return true;
  };
  return (context) => {
    if (context.step > 0 && isChainState(context.state)) {
      // A later step of an exchange goes to the hook that started it.
      const { hook, state } = context.state;
      const inner: AuthContext = { ...context };
      if (state === undefined) delete inner.state;
      else inner.state = state;
      return Promise.resolve(hooks[hook]!(inner)).then((r) => wrap(hook, r ?? false));
    }
    return from(context, 0);
  };
}

/**
 * One authorize function for the chain, or `undefined` when nothing authorizes (everything
 * allowed). The first hook answering decides; all passing allows.
 */
export function composeAuthorize(
  first: Authorize | undefined,
  plugins: readonly BrokerPlugin[],
): ((request: AuthorizeRequest) => boolean) | undefined {
  const hooks: Authorize[] = [];
  if (first !== undefined) hooks.push(first);
  for (const plugin of plugins) {
    if (plugin.authorize !== undefined) hooks.push((r) => plugin.authorize!(r));
  }
  if (hooks.length === 0) return undefined;
  if (hooks.length === 1) {
    const only = hooks[0]!;
    return (request) => only(request) !== false;
  }
  return (request) => {
    for (const hook of hooks) {
      const answer = hook(request);
      if (answer !== undefined) return answer;
    }
    return true;
  };
}
