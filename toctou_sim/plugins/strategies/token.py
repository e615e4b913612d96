"""The ``token`` strategy: permission tokens with a TTL and refresh."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from toctou_sim.core.distributions import DistributionSpec, parse_distribution
from toctou_sim.core.units import NonNegativeDuration, PositiveDuration
from toctou_sim.measure.metrics import DECLINED
from toctou_sim.spec.parts import RetryPolicy, StrategySpec
from toctou_sim.spec.registry import Plugin
from toctou_sim.spec.strategies import require_invariant
from toctou_sim.spec.targets import CLOCK, TargetKind
from toctou_sim.world.engine import Flow, Operation, Strategy, World

if TYPE_CHECKING:
    from toctou_sim.spec.parts import ModelView

__all__ = ["PLUGIN", "PermissionToken", "TokenSpec"]


class TokenSpec(StrategySpec):
    """Permission tokens (the authorization case, F3, F10). The check issues a token that proves
    the permission for ``ttl`` (an expiry claim stamped on the ``issuer``'s clock); the resource
    (the ``verifier``) accepts a token it judges unexpired on its own clock, give or take
    ``leeway``, without asking the policy store again. With ``reuse`` a client keeps a key's token
    and skips the check while its clock says the token is valid (cheap, but blind to
    revocations). A use the verifier judges expired is refused (401, the flow is retried); with
    ``refresh`` a client whose clock says the token expired refreshes it just before use (a
    re-check near use with ``refresh_latency``; a revoked permission is then caught as a 403).
    Fault targets: ``issuer``, ``verifier`` (and ``clients``) for clock skew."""

    kind: Literal["token"] = "token"
    ttl: PositiveDuration = 300.0
    leeway: NonNegativeDuration = 0.0
    """Clock-skew tolerance of the verifier: it honours a token until its expiry plus this."""
    refresh: bool = True
    reuse: bool = False
    refresh_latency: DistributionSpec = parse_distribution(0.0)
    retry: RetryPolicy = RetryPolicy()

    def check_model(self, model: ModelView) -> str | None:
        return require_invariant(model, "token", ("grant",))

    def targets(self) -> dict[str, TargetKind]:
        # reuse and refresh are judged on the clients' clock, the expiry claim on the issuer's,
        # the expiry at use on the verifier's
        return {"clients": CLOCK, "issuer": CLOCK, "verifier": CLOCK}


class _Token:
    __slots__ = ("expires", "value", "version")

    def __init__(self, expires: float, version: int, value: int) -> None:
        self.expires = expires
        """The expiry claim (``exp``): the issuer's clock at issue plus the TTL."""
        self.version = version
        self.value = value


class PermissionToken(Strategy):
    """Permission tokens with a TTL, for the authorization case (guide F3, F10).

    The check asks the policy store and gets a token whose expiry claim is the issuer's clock
    plus ``ttl``; the resource (the verifier) honours a token it judges unexpired without asking
    again, so a revocation during the token's life goes unnoticed (an unauthorized action). The
    verifier judges expiry on its own clock, with ``leeway`` of tolerance: a use whose token it
    judges expired is refused (a 401, an authentication expiry error; the flow is retried). With
    ``refresh`` the client refreshes, just before use, a token that its own clock says has
    expired: a re-check near use that turns a revocation into a 403 (a caught conflict). With
    ``reuse`` clients keep tokens per key and skip the check while their clock says they are
    valid: cheaper checks, longer blindness.

    Three clocks, three fault targets (guide F10): ``issuer`` stamps the expiry, ``verifier``
    judges it at use, ``clients`` decide reuse and refresh. A verifier whose clock runs ahead
    refuses valid tokens (expiry errors); one whose clock runs behind honours expired ones.
    """

    spec: TokenSpec

    def __init__(self, world: World, spec: TokenSpec) -> None:
        super().__init__(world, spec)
        self._ttl: float = spec.ttl
        self._leeway: float = spec.leeway
        self._refresh: bool = spec.refresh
        self._reuse: bool = spec.reuse
        self._refresh_latency = world.streams.variates("token.refresh_latency", spec.refresh_latency)
        self.clock = world.add_actor("clients")
        """Reuse and refresh are decided on the clients' clock."""
        self.issuer = world.add_actor("issuer")
        """The token service: its clock stamps the expiry claim."""
        self.verifier = world.add_actor("verifier")
        """The resource that honours tokens: its clock judges the expiry at use."""
        self.tokens: dict[int, _Token] = {}
        self.refreshes = 0
        self.reused = 0
        self.expired_at_use = 0

    def _issue(self, now: float, version: int, value: int) -> _Token:
        return _Token(self.issuer.local_time(now) + self._ttl, version, value)

    def attempt(self, op: Operation, first: bool) -> Flow:
        world = self.world
        env = world.env
        store = world.store
        key = op.key
        clock = self.clock
        token = self.tokens.get(key) if self._reuse else None
        if token is not None and clock.local_time(env.now) < token.expires:
            # The cached token stands in for the check: no read, the token's snapshot is used.
            op.seen_version, op.seen_value, op.t_check = token.version, token.value, env.now
            op.stale = token.version != store.version[key] and not store.holds(key, token.version)
            if op.counted:
                self.reused += 1
            checked = world.notify.checked
            if checked is not None:  # the token's snapshot is this attempt's check
                checked(op, True, token.version != store.version[key])
        else:
            if not (yield from world.check(op, op.read_latency)):
                return DECLINED
            token = self._issue(env.now, op.seen_version, op.seen_value)
            if self._reuse:
                self.tokens[key] = token
        yield from world.wait_window(op.window, op)
        if self._refresh and clock.local_time(env.now) >= token.expires:
            latency = self._refresh_latency()
            if latency > 0:
                yield env.timeout(latency)
            if op.counted:
                self.refreshes += 1
            if not store.holds(key, op.seen_version):
                self.tokens.pop(key, None)
                return world.catch(op)
            token = self._issue(env.now, store.version[key], store.value[key])
            if self._reuse:
                self.tokens[key] = token
        if self.verifier.local_time(env.now) >= token.expires + self._leeway:
            # The verifier judges the token expired on its own clock: 401, the flow is retried.
            if op.counted:
                self.expired_at_use += 1
            self.tokens.pop(key, None)
            return world.catch(op)
        if world.store_writes is not None:  # a finite store: queue for a server first
            yield from world.store_writes.call(op)
        if op.write_latency > 0:
            yield env.timeout(op.write_latency)
        return world.decide(op, accepted=True)

    def metrics(self) -> dict[str, float]:
        return {
            "token_refreshes": float(self.refreshes),
            "token_reuses": float(self.reused),
            "token_expired_at_use": float(self.expired_at_use),
        }


PLUGIN = Plugin(spec=TokenSpec, behaviour=PermissionToken)
"""The kind ``token``: its spec and its behaviour."""
