"""Apply steps for groups, the tags their names give (rule 6) and their memberships."""

from __future__ import annotations

from gateway.store.apply.sql import SqlSteps
from gateway.store.tags import UNUSED_TAG


class GroupSteps(SqlSteps):
    def _apply_groups(self) -> None:
        self._run(
            """
            UPDATE stg_groups SET group_id = g.id
            FROM groups g
            WHERE g.tenant_id = :t AND g.source = :s AND g.external_id = stg_groups.external_id
            """
        )
        self._run(
            """
            INSERT INTO stg_removed_groups (group_id)
            SELECT g.id FROM groups g JOIN stg_group_removals r
              ON g.tenant_id = :t AND g.source = :s AND g.external_id = r.external_id
            """
        )
        self._audit(
            "group_membership.removed",
            "user",
            "gm.user_id",
            # Removed groups first (SQLite keeps this order): mostly none at all.
            "FROM stg_removed_groups r CROSS JOIN group_memberships gm"
            " WHERE gm.group_id = r.group_id",
            before=self._json(group_id="CAST(gm.group_id AS VARCHAR(32))"),
        )
        self._run(
            """
            DELETE FROM group_memberships
            WHERE group_id IN (SELECT group_id FROM stg_removed_groups)
            """
        )
        self._audit(
            "group.removed",
            "group",
            "g.id",
            "FROM groups g JOIN stg_removed_groups r ON r.group_id = g.id",
            before=self._json(external_id="g.external_id", display_name="g.display_name"),
        )
        self._run("DELETE FROM groups WHERE id IN (SELECT group_id FROM stg_removed_groups)")
        self._audit(
            "group.renamed",
            "group",
            "g.id",
            """
            FROM groups g JOIN stg_groups s ON s.group_id = g.id
            WHERE g.display_name <> s.display_name
            """,
            before=self._json(display_name="g.display_name"),
            after=self._json(display_name="s.display_name"),
        )
        self._run(
            """
            UPDATE groups SET display_name = s.display_name, updated_at = :now
            FROM stg_groups s WHERE groups.id = s.group_id AND groups.display_name <> s.display_name
            """
        )
        self._run(
            """
            INSERT INTO groups
                (tenant_id, source, external_id, display_name, created_at, updated_at)
            SELECT :t, :s, s.external_id, s.display_name, :now, :now
            FROM stg_groups s WHERE s.group_id IS NULL
            """
        )
        self._audit(
            "group.created",
            "group",
            "g.id",
            """
            FROM groups g JOIN stg_groups s
              ON g.tenant_id = :t AND g.source = :s AND g.external_id = s.external_id
            WHERE s.group_id IS NULL
            """,
            after=self._json(external_id="g.external_id", display_name="g.display_name"),
        )
        self._run(
            """
            UPDATE stg_groups SET group_id = g.id
            FROM groups g
            WHERE stg_groups.group_id IS NULL
              AND g.tenant_id = :t AND g.source = :s AND g.external_id = stg_groups.external_id
            """
        )

    def _apply_tags(self) -> None:
        """Give each staged group the tag of its name (rule 6).

        A renamed group renames its tag in place when nothing else gives it
        (another group, or an admin by hand), so the tag keeps its id; tags that
        nothing gives any more are removed.
        """
        moves = list(
            self._rows(
                """
                SELECT s.group_id, g.tag_id, t.name, s.tag_name, s.tag_key,
                       (SELECT COUNT(*) FROM groups o WHERE o.tag_id = g.tag_id)
                       + (SELECT COUNT(*) FROM user_tags ut WHERE ut.tag_id = g.tag_id)
                           AS sharing
                FROM stg_groups s
                JOIN groups g ON g.id = s.group_id
                LEFT JOIN tags t ON t.id = g.tag_id
                WHERE g.tag_id IS NOT NULL AND t.name IS DISTINCT FROM s.tag_name
                """
            )
        )
        for group_id, tag_id, old_name, new_name, new_key, sharing in moves:
            taken = new_key is not None and self._scalar(
                "SELECT id FROM tags WHERE tenant_id = :t AND name_key = :k AND id <> :id",
                k=new_key,
                id=tag_id,
            )
            if new_name is not None and sharing == 1 and not taken:
                self._run(
                    "UPDATE tags SET name = :n, name_key = :k WHERE id = :id",
                    n=new_name,
                    k=new_key,
                    id=tag_id,
                )
                self._audit_tag_rename(tag_id, old_name)
            else:
                self._run("UPDATE groups SET tag_id = NULL WHERE id = :g", g=group_id)
        # Groups without a tag (new, or just moved off one) get theirs by name.
        self._run(
            """
            INSERT INTO tags (tenant_id, name, name_key, created_at)
            SELECT :t, MIN(s.tag_name), s.tag_key, :now
            FROM stg_groups s JOIN groups g ON g.id = s.group_id
            WHERE g.tag_id IS NULL AND s.tag_key IS NOT NULL
              AND NOT EXISTS (
                  SELECT 1 FROM tags t WHERE t.tenant_id = :t AND t.name_key = s.tag_key)
            GROUP BY s.tag_key
            """
        )
        self._audit(
            "tag.created",
            "tag",
            "t.id",
            "FROM tags t WHERE t.tenant_id = :t AND t.created_at = :now AND NOT EXISTS ("
            " SELECT 1 FROM groups g WHERE g.tag_id = t.id)",
            after=self._json(name="t.name"),
        )
        self._run(
            """
            UPDATE groups SET tag_id = t.id
            FROM stg_groups s, tags t
            WHERE groups.id = s.group_id AND groups.tag_id IS NULL
              AND s.tag_key IS NOT NULL AND t.tenant_id = :t AND t.name_key = s.tag_key
            """
        )
        orphans = f"FROM tags t WHERE t.tenant_id = :t AND {UNUSED_TAG}"
        self._audit("tag.removed", "tag", "t.id", orphans, before=self._json(name="t.name"))
        self._run(f"DELETE FROM tags WHERE id IN (SELECT t.id {orphans})")

    def _audit_tag_rename(self, tag_id: int, old_name: str) -> None:
        self._audit(
            "tag.renamed",
            "tag",
            "t.id",
            "FROM tags t WHERE t.id = :tag",
            before=self._json(name="CAST(:old_name AS VARCHAR(29))"),
            after=self._json(name="t.name"),
            tag=tag_id,
            old_name=old_name,
        )

    def _apply_group_memberships(self) -> None:
        self._run(
            """
            INSERT INTO stg_gm (group_id, user_id)
            SELECT g.id, us.user_id
            FROM stg_members m
            CROSS JOIN groups g
            CROSS JOIN user_sources us
            WHERE g.tenant_id = :t AND g.source = :s AND g.external_id = m.group_ext
              AND us.tenant_id = :t AND us.source = :s AND us.external_id = m.user_ext
            """
        )
        self._refresh_working_sets("stg_gm")
        # stg_groups first: a change batch's few staged groups, not every membership.
        self._run(
            """
            INSERT INTO stg_gm_removed (group_id, user_id)
            SELECT gm.group_id, gm.user_id
            FROM stg_groups sg CROSS JOIN group_memberships gm
            WHERE sg.group_id = gm.group_id
              AND :complete AND sg.members_complete AND NOT EXISTS (
                SELECT 1 FROM stg_gm x WHERE x.group_id = gm.group_id AND x.user_id = gm.user_id)
            UNION
            SELECT gm.group_id, gm.user_id
            FROM stg_member_removals r
            CROSS JOIN groups g
            CROSS JOIN user_sources us
            CROSS JOIN group_memberships gm
            WHERE g.tenant_id = :t AND g.source = :s AND g.external_id = r.group_ext
              AND us.tenant_id = :t AND us.source = :s AND us.external_id = r.user_ext
              AND gm.group_id = g.id AND gm.user_id = us.user_id
            UNION
            SELECT gm.group_id, gm.user_id
            FROM group_memberships gm
            JOIN groups g ON g.id = gm.group_id AND g.source = :s
            WHERE gm.user_id IN (SELECT user_id FROM stg_unlinked)
            """
        )
        self._refresh_working_sets("stg_gm_removed")
        self._audit(
            "group_membership.removed",
            "user",
            "x.user_id",
            "FROM stg_gm_removed x",
            before=self._json(group_id="CAST(x.group_id AS VARCHAR(32))"),
        )
        # Not "(group_id, user_id) IN (SELECT ...)": SQLite (3.40 here) answers
        # that row-value IN wrongly when it searches group_memberships by an
        # index, as it does once statistics exist, and kept members whose
        # links this apply removed.
        self._run(
            """
            DELETE FROM group_memberships
            WHERE user_id IN (SELECT user_id FROM stg_gm_removed) AND EXISTS (
                SELECT 1 FROM stg_gm_removed x
                WHERE x.group_id = group_memberships.group_id
                  AND x.user_id = group_memberships.user_id)
            """
        )
        self._run(
            """
            DELETE FROM stg_gm
            WHERE EXISTS (SELECT 1 FROM group_memberships gm
                          WHERE gm.group_id = stg_gm.group_id AND gm.user_id = stg_gm.user_id)
            """
        )
        self._audit(
            "group_membership.added",
            "user",
            "x.user_id",
            "FROM stg_gm x",
            after=self._json(group_id="CAST(x.group_id AS VARCHAR(32))"),
        )
        self._run(
            """
            INSERT INTO group_memberships (group_id, user_id, tenant_id)
            SELECT group_id, user_id, :t FROM stg_gm ORDER BY group_id, user_id
            """
        )
