"""Apply steps for users: matching, Primary Email uniqueness, links and activation."""

from __future__ import annotations

from gateway.identity.model import SyncWarning, WarningCode
from gateway.identity.rules import deactivation_needs_confirmation
from gateway.store.apply.results import NeedsConfirmationSignal
from gateway.store.apply.sql import SqlSteps

_MAX_CONFLICT_ROUNDS = 1000


class UserSteps(SqlSteps):
    """Rules 2-4 and 8, and the threshold of rule 10."""

    synced_before: int
    deactivating: int

    def _prepare(self) -> None:
        """Explicit removals win over upserts named in the same batch."""
        self._run(
            """
            DELETE FROM stg_users
            WHERE external_id IN (SELECT external_id FROM stg_user_removals)
            """
        )
        self._run(
            """
            DELETE FROM stg_groups
            WHERE external_id IN (SELECT external_id FROM stg_group_removals)
            """
        )
        # Users the source already links, by the source's own key.
        self._run(
            """
            UPDATE stg_users SET user_id = us.user_id
            FROM user_sources us
            WHERE us.tenant_id = :t AND us.source = :s AND us.external_id = stg_users.external_id
            """
        )

    def _unlink_users(self) -> None:
        """Drop the links the source no longer has (named removals; a complete
        snapshot names what it lacks). A user keeps its record (rule 8)."""
        self._run(
            """
            INSERT INTO stg_unlinked (user_id)
            SELECT us.user_id FROM user_sources us JOIN stg_user_removals r
              ON us.tenant_id = :t AND us.source = :s AND us.external_id = r.external_id
            """
        )
        self._refresh_working_sets("stg_unlinked")
        self._audit(
            "user.source_removed",
            "user",
            "us.user_id",
            """
            FROM user_sources us JOIN stg_unlinked x ON x.user_id = us.user_id
            WHERE us.source = :s
            """,
            before=self._json(source="us.source", external_id="us.external_id"),
        )
        self._run(
            """
            DELETE FROM user_sources
            WHERE source = :s AND user_id IN (SELECT user_id FROM stg_unlinked)
            """
        )

    def _match_users(self) -> None:
        """Match the rest by Entra object id, then by Primary Email (rule 4)."""
        self._run(
            """
            UPDATE stg_users SET user_id = u.id
            FROM users u
            WHERE stg_users.user_id IS NULL AND stg_users.entra_object_id IS NOT NULL
              AND u.tenant_id = :t AND u.entra_object_id = stg_users.entra_object_id
              AND NOT EXISTS (
                  SELECT 1 FROM user_sources us WHERE us.user_id = u.id AND us.source = :s)
              AND NOT EXISTS (SELECT 1 FROM stg_users other WHERE other.user_id = u.id)
            """
        )
        self._run(
            """
            UPDATE stg_users SET user_id = u.id
            FROM users u
            WHERE stg_users.user_id IS NULL
              AND u.tenant_id = :t AND u.email_key = stg_users.email_key
              AND (u.entra_object_id IS NULL OR stg_users.entra_object_id IS NULL
                   OR u.entra_object_id = stg_users.entra_object_id)
              AND NOT EXISTS (
                  SELECT 1 FROM user_sources us WHERE us.user_id = u.id AND us.source = :s)
              AND NOT EXISTS (SELECT 1 FROM stg_users other WHERE other.user_id = u.id)
            """
        )

    def _resolve_conflicts(self) -> None:
        """Keep Primary Emails unique per tenant (rule 4).

        An address held by a user that no source has enabled, and that this
        batch does not name, is released to the newcomer (the old record keeps
        it for display). Otherwise the incoming record yields: a known user
        keeps its old address, a new one is skipped, and the run says why. A
        record that yields may leave another one without the address it was
        counting on, so this repeats until nothing conflicts.
        """
        for _ in range(_MAX_CONFLICT_ROUNDS):
            conflicts = list(
                self._rows(
                    """
                    SELECT s.external_id, s.primary_email, s.user_id, holder.id,
                           EXISTS (SELECT 1 FROM user_sources us
                                   WHERE us.user_id = holder.id AND us.enabled)
                           OR EXISTS (SELECT 1 FROM stg_users named
                                      WHERE named.user_id = holder.id AND NOT named.skip)
                               AS holder_stays,
                           (SELECT hs.external_id FROM user_sources hs
                            WHERE hs.user_id = holder.id AND hs.source = :s) AS holder_link,
                           mine.primary_email, mine.email_key
                    FROM stg_users s
                    JOIN users holder ON holder.tenant_id = :t AND holder.email_key = s.email_key
                    LEFT JOIN users mine ON mine.id = s.user_id
                    WHERE NOT s.skip AND (s.user_id IS NULL OR holder.id <> s.user_id)
                      AND NOT EXISTS (
                          SELECT 1 FROM stg_users moving
                          WHERE moving.user_id = holder.id AND NOT moving.skip
                            AND moving.email_key <> holder.email_key)
                    """
                )
            )
            if not conflicts:
                return
            release: set[int] = set()
            present = self.batch.present_external_ids
            for row in conflicts:
                external_id, wanted, user_id, holder_id, holder_stays, holder_link, old, old_key = (
                    row
                )
                # A snapshot does not stage users it has unchanged; they are present all the same.
                if not holder_stays and holder_link not in present:
                    release.add(int(holder_id))
                elif user_id is None or old_key is None:
                    self._yield_address(external_id, wanted, holder_id, skip=True)
                else:
                    self._yield_address(external_id, wanted, holder_id, skip=False)
                    self._run(
                        # Not applied in full: no fingerprint, so the next
                        # snapshot tries again.
                        "UPDATE stg_users SET primary_email = :e, email_key = :k,"
                        " fingerprint = NULL WHERE external_id = :x",
                        e=old,
                        k=old_key,
                        x=external_id,
                    )
            if release:
                self._release_addresses(sorted(release))
        raise RuntimeError("Primary Email conflicts did not settle; this is a bug")

    def _yield_address(self, external_id: str, wanted: str, holder_id: int, *, skip: bool) -> None:
        outcome = "was not synced" if skip else "keeps its old one"
        self.warnings.append(
            SyncWarning(
                WarningCode.PRIMARY_EMAIL_TAKEN,
                subject=str(wanted),
                message=(
                    f"Another active user already has this Primary Email, so this user "
                    f"{outcome}; make the Email unique in Entra ID."
                ),
                detail={"external_id": str(external_id), "holder_user_id": str(holder_id)},
            )
        )
        if skip:
            self._run("UPDATE stg_users SET skip = TRUE WHERE external_id = :x", x=external_id)
            self._count("users_skipped", 1)

    def _release_addresses(self, user_ids: list[int]) -> None:
        self._audit(
            "user.email_released",
            "user",
            "u.id",
            "FROM users u WHERE u.tenant_id = :t AND u.id IN :ids",
            before=self._json(primary_email="u.primary_email"),
            ids=user_ids,
        )
        self._run(
            "UPDATE users SET email_key = NULL, updated_at = :now WHERE id IN :ids", ids=user_ids
        )

    def _skip_taken_object_ids(self) -> None:
        # A new Entra object id already held by another user cannot be created twice.
        self._run(
            """
            UPDATE stg_users SET skip = TRUE
            WHERE user_id IS NULL AND entra_object_id IS NOT NULL AND EXISTS (
                SELECT 1 FROM users u
                WHERE u.tenant_id = :t AND u.entra_object_id = stg_users.entra_object_id)
            """
        )

    def _update_users(self) -> None:
        """Update changed attributes of matched users; a changed Primary Email
        moves in two steps so that two users may swap addresses in one batch."""
        changed = """
            FROM stg_users s JOIN users u ON u.id = s.user_id
            WHERE NOT s.skip AND (
                u.primary_email <> s.primary_email
                OR u.email_key IS DISTINCT FROM s.email_key
                OR u.user_name <> s.user_name
                OR u.display_name IS DISTINCT FROM s.display_name
                OR (u.entra_object_id IS NULL AND s.entra_object_id IS NOT NULL))
        """
        fields = {
            "primary_email": "primary_email",
            "user_name": "user_name",
            "display_name": "display_name",
        }
        self._audit(
            "user.updated",
            "user",
            "u.id",
            changed,
            before=self._json(**{k: f"u.{v}" for k, v in fields.items()}),
            after=self._json(**{k: f"s.{v}" for k, v in fields.items()}),
        )
        self._run(
            """
            UPDATE users SET email_key = NULL
            FROM stg_users s
            WHERE users.id = s.user_id AND NOT s.skip AND users.email_key <> s.email_key
            """
        )
        self._run(
            """
            UPDATE users SET
                primary_email = s.primary_email,
                email_key = s.email_key,
                user_name = s.user_name,
                user_name_key = s.user_name_key,
                display_name = s.display_name,
                entra_object_id = COALESCE(users.entra_object_id, s.entra_object_id),
                updated_at = :now
            FROM stg_users s
            WHERE users.id = s.user_id AND NOT s.skip AND (
                users.primary_email <> s.primary_email
                OR users.email_key IS DISTINCT FROM s.email_key
                OR users.user_name <> s.user_name
                OR users.display_name IS DISTINCT FROM s.display_name
                OR (users.entra_object_id IS NULL AND s.entra_object_id IS NOT NULL))
            """
        )

    def _insert_users(self) -> None:
        self._run("UPDATE stg_users SET created = TRUE WHERE user_id IS NULL AND NOT skip")
        self._run(
            """
            INSERT INTO users (tenant_id, primary_email, email_key, user_name, user_name_key,
                               display_name, entra_object_id, active, created_at, updated_at,
                               deactivated_at)
            SELECT :t, s.primary_email, s.email_key, s.user_name, s.user_name_key,
                   s.display_name, s.entra_object_id, s.enabled, :now, :now,
                   CASE WHEN s.enabled THEN NULL ELSE :now END
            FROM stg_users s WHERE s.created
            """
        )
        self._run(
            """
            UPDATE stg_users SET user_id = u.id
            FROM users u
            WHERE stg_users.created AND u.tenant_id = :t AND u.email_key = stg_users.email_key
            """
        )
        self._audit(
            "user.created",
            "user",
            "s.user_id",
            "FROM stg_users s WHERE s.created",
            after=self._json(
                primary_email="s.primary_email",
                user_name="s.user_name",
                active=self._bool("s.enabled"),
            ),
        )

    def _upsert_links(self) -> None:
        if self.batch.staged("stg_users_unusable"):
            self._disable_unusable()
        self._run(
            """
            INSERT INTO user_sources (user_id, source, tenant_id, external_id, enabled,
                                      fingerprint)
            SELECT s.user_id, :s, :t, s.external_id, s.enabled, s.fingerprint
            FROM stg_users s WHERE NOT s.skip AND s.user_id IS NOT NULL
            ON CONFLICT (user_id, source) DO UPDATE
                SET external_id = excluded.external_id, enabled = excluded.enabled,
                    fingerprint = excluded.fingerprint
                WHERE user_sources.external_id <> excluded.external_id
                   OR user_sources.enabled <> excluded.enabled
                   OR user_sources.fingerprint IS DISTINCT FROM excluded.fingerprint
            """
        )

    def _disable_unusable(self) -> None:
        self._run(
            """
            UPDATE user_sources SET enabled = FALSE, fingerprint = NULL
            WHERE tenant_id = :t AND source = :s AND enabled AND external_id IN (
                SELECT external_id FROM stg_users_unusable WHERE NOT enabled)
            """
        )

    def _apply_activation(self) -> None:
        """A user is active while any source has it enabled (rule 8).

        Stops the run when it would deactivate an unusual share (rule 10).
        """
        self._run(
            """
            INSERT INTO stg_affected (user_id)
            SELECT user_id FROM stg_users WHERE user_id IS NOT NULL AND NOT skip AND NOT created
            UNION SELECT user_id FROM stg_unlinked
            UNION SELECT us.user_id FROM user_sources us JOIN stg_users_unusable x
                ON us.tenant_id = :t AND us.source = :s AND us.external_id = x.external_id
            """
        )
        # The affected users first (SQLite keeps this order), not every user.
        self._run(
            """
            INSERT INTO stg_activation (user_id, was_active, now_active)
            SELECT u.id, u.active, EXISTS (
                SELECT 1 FROM user_sources us WHERE us.user_id = u.id AND us.enabled)
            FROM stg_affected a CROSS JOIN users u WHERE u.id = a.user_id
            """
        )
        self._run("DELETE FROM stg_activation WHERE was_active = now_active")
        self._refresh_working_sets("stg_activation")
        self.deactivating = self._scalar("SELECT COUNT(*) FROM stg_activation WHERE was_active")
        if (
            deactivation_needs_confirmation(
                self.synced_before,
                self.deactivating,
                self.options.threshold_share,
                self.options.threshold_min_users,
            )
            and not self.options.confirm_deactivations
        ):
            self._count("users_deactivated", self.deactivating)
            raise NeedsConfirmationSignal
        for action, was_active in (("user.deactivated", True), ("user.reactivated", False)):
            self._audit(
                action,
                "user",
                "a.user_id",
                "FROM stg_activation a WHERE "
                + ("a.was_active" if was_active else "NOT a.was_active"),
                before=self._json(active=self._bool("a.was_active")),
                after=self._json(active=self._bool("a.now_active")),
            )
        self._run(
            """
            UPDATE users SET active = a.now_active, updated_at = :now,
                deactivated_at = CASE WHEN a.now_active THEN NULL ELSE :now END
            FROM stg_activation a WHERE users.id = a.user_id
            """
        )
