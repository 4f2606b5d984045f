//! Teams and their members on both engines: the creator owns the team, invitations are
//! accepted by the invited address only, roles gate member management, every change
//! records its event, and one team's members cannot reach another team.

use chronicle::accounts::members::{self, Role};
use chronicle::accounts::AccountName;
use chronicle::events::log;
use chronicle::identity::{mail, Email};
use chronicle::testing::{execute_raw, join, person, team};
use chronicle::Error;

fn email(s: &str) -> Email {
    Email::parse(s).expect("valid e-mail")
}

async fn event_types(
    store: &chronicle::Store,
    current: &chronicle::accounts::Current,
) -> Vec<String> {
    log::read(store, current.account_id(), 0, 100)
        .await
        .expect("log")
        .into_iter()
        .map(|e| e.row.event_type)
        .collect()
}

chronicle::engine_tests! {
    async fn the_creator_owns_the_team_and_both_events_are_recorded(store) {
        let alice = team(&store, "Acme", "alice@example.com").await;
        assert_eq!(alice.role, Role::Owner);
        assert_eq!(alice.account.slug, "acme");
        assert_eq!(event_types(&store, &alice).await, ["account.created", "member.joined"]);
        let teams = members::teams_of(&store, alice.user.id).await.expect("teams");
        assert_eq!(teams, vec![(alice.account.clone(), Role::Owner)]);
    }

    async fn an_invited_person_joins_with_the_invited_role(store) {
        let alice = team(&store, "Acme", "alice@example.com").await;
        let invitation = members::invite(&store, &alice, &email("Bob@Example.com"), Role::Admin, "http://x.test")
            .await.expect("invite");
        assert_eq!(invitation.email, "bob@example.com");
        let open = members::open_invitations(&store, &alice).await.expect("open");
        assert_eq!(open, vec![invitation.clone()]);
        let outbox = mail::recent(&store, 1).await.expect("outbox");
        assert_eq!(outbox[0].recipient, "bob@example.com");
        assert!(outbox[0].body.contains("http://x.test/sign-in?email=bob%40example.com"), "{}", outbox[0].body);

        let bob = person(&store, "bob@example.com").await;
        let waiting = members::invitations_for(&store, &bob).await.expect("mine");
        assert_eq!(waiting.len(), 1);
        assert_eq!(waiting[0].team_name, "Acme");
        assert_eq!(waiting[0].invited_by_name, "Alice");
        members::accept_invitation(&store, &bob, invitation.account_id, invitation.id).await.expect("accept");
        let bob = members::membership(&store, "acme", &bob).await.expect("member now");
        assert_eq!(bob.role, Role::Admin);
        assert!(members::invitations_for(&store, &bob.user).await.expect("mine").is_empty());
        assert!(members::open_invitations(&store, &alice).await.expect("open").is_empty());

        let names: Vec<_> = members::list_members(&store, &alice).await.expect("list")
            .into_iter().map(|m| (m.name, m.role)).collect();
        assert_eq!(names, [("Alice".to_owned(), Role::Owner), ("Bob".to_owned(), Role::Admin)]);
        assert_eq!(event_types(&store, &alice).await,
            ["account.created", "member.joined", "member.invited", "member.joined"]);

        let again = members::accept_invitation(&store, &bob.user, invitation.account_id, invitation.id)
            .await.expect_err("used");
        assert!(matches!(&again, Error::Conflict(m) if m.contains("already been accepted")), "{again:?}");
    }

    async fn only_the_invited_address_can_accept(store) {
        let alice = team(&store, "Acme", "alice@example.com").await;
        let invitation = members::invite(&store, &alice, &email("bob@example.com"), Role::Member, "http://x.test")
            .await.expect("invite");
        let mallory = person(&store, "mallory@example.com").await;
        let err = members::accept_invitation(&store, &mallory, invitation.account_id, invitation.id)
            .await.expect_err("not hers");
        assert!(matches!(err, Error::NotFound("invitation")), "{err:?}");
        assert!(members::membership(&store, "acme", &mallory).await.is_err());
    }

    async fn expired_and_withdrawn_invitations_cannot_be_accepted(store, db) {
        let alice = team(&store, "Acme", "alice@example.com").await;
        let bob_invite = members::invite(&store, &alice, &email("bob@example.com"), Role::Member, "http://x.test")
            .await.expect("invite bob");
        let cleo_invite = members::invite(&store, &alice, &email("cleo@example.com"), Role::Member, "http://x.test")
            .await.expect("invite cleo");
        members::revoke_invitation(&store, &alice, cleo_invite.id).await.expect("revoke");
        execute_raw(db, "UPDATE invitations SET expires_at = 0 WHERE email = 'bob@example.com'")
            .await.expect("expire");
        let bob = person(&store, "bob@example.com").await;
        let cleo = person(&store, "cleo@example.com").await;
        assert!(members::invitations_for(&store, &bob).await.expect("mine").is_empty());
        let err = members::accept_invitation(&store, &bob, bob_invite.account_id, bob_invite.id).await.expect_err("expired");
        assert!(matches!(&err, Error::Conflict(m) if m.contains("expired")), "{err:?}");
        let err = members::accept_invitation(&store, &cleo, cleo_invite.account_id, cleo_invite.id).await.expect_err("withdrawn");
        assert!(matches!(&err, Error::Conflict(m) if m.contains("withdrawn")), "{err:?}");
        // An expired invitation does not block a new one, which works.
        let again = members::invite(&store, &alice, &email("bob@example.com"), Role::Member, "http://x.test")
            .await.expect("invite again after expiry");
        members::accept_invitation(&store, &bob, again.account_id, again.id).await.expect("accept the new one");
    }

    async fn inviting_twice_or_inviting_a_member_is_a_conflict(store) {
        let alice = team(&store, "Acme", "alice@example.com").await;
        members::invite(&store, &alice, &email("bob@example.com"), Role::Member, "http://x.test").await.expect("invite");
        let err = members::invite(&store, &alice, &email("bob@example.com"), Role::Member, "http://x.test")
            .await.expect_err("twice");
        assert!(matches!(&err, Error::Conflict(m) if m.contains("already been invited")), "{err:?}");
        let err = members::invite(&store, &alice, &email("alice@example.com"), Role::Member, "http://x.test")
            .await.expect_err("member");
        assert!(matches!(&err, Error::Conflict(m) if m.contains("already in this team")), "{err:?}");
    }

    async fn plain_members_cannot_manage_members_and_nothing_is_written(store) {
        let alice = team(&store, "Acme", "alice@example.com").await;
        let bob = join(&store, &alice, "bob@example.com", Role::Member).await;
        let before = log::count(&store, alice.account_id()).await.expect("count");
        let err = members::invite(&store, &bob, &email("x@example.com"), Role::Member, "http://x.test")
            .await.expect_err("member cannot invite");
        assert!(matches!(err, Error::Forbidden(_)), "{err:?}");
        let err = members::change_role(&store, &bob, alice.user.id, Role::Member).await.expect_err("cannot demote");
        assert!(matches!(err, Error::Forbidden(_)), "{err:?}");
        let err = members::remove_member(&store, &bob, alice.user.id).await.expect_err("cannot remove");
        assert!(matches!(err, Error::Forbidden(_)), "{err:?}");
        assert_eq!(log::count(&store, alice.account_id()).await.expect("count"), before);
    }

    async fn admins_manage_members_but_only_owners_touch_owners(store) {
        let alice = team(&store, "Acme", "alice@example.com").await;
        let admin = join(&store, &alice, "adam@example.com", Role::Admin).await;
        let bob = join(&store, &alice, "bob@example.com", Role::Member).await;
        let promoted = members::change_role(&store, &admin, bob.user.id, Role::Admin).await.expect("promote");
        assert_eq!(promoted.role, Role::Admin);
        let err = members::change_role(&store, &admin, bob.user.id, Role::Owner).await.expect_err("owner");
        assert!(matches!(err, Error::Forbidden(_)), "{err:?}");
        let err = members::remove_member(&store, &admin, alice.user.id).await.expect_err("remove owner");
        assert!(matches!(err, Error::Forbidden(_)), "{err:?}");
        let err = members::invite(&store, &admin, &email("o@example.com"), Role::Owner, "http://x.test")
            .await.expect_err("invite owner");
        assert!(matches!(err, Error::Forbidden(_)), "{err:?}");
        members::remove_member(&store, &admin, bob.user.id).await.expect("remove bob");
        assert!(members::membership(&store, "acme", &bob.user).await.is_err(), "bob is out");
        let types = event_types(&store, &alice).await;
        assert_eq!(&types[types.len() - 2..], ["member.role_changed", "member.removed"]);
    }

    async fn a_team_always_keeps_an_owner(store) {
        let alice = team(&store, "Acme", "alice@example.com").await;
        let err = members::change_role(&store, &alice, alice.user.id, Role::Admin).await.expect_err("last owner");
        assert!(matches!(&err, Error::Conflict(m) if m.contains("needs an owner")), "{err:?}");
        let err = members::remove_member(&store, &alice, alice.user.id).await.expect_err("last owner leaves");
        assert!(matches!(&err, Error::Conflict(m) if m.contains("needs an owner")), "{err:?}");
        let bob = join(&store, &alice, "bob@example.com", Role::Owner).await;
        members::change_role(&store, &bob, alice.user.id, Role::Member).await.expect("two owners: fine");
    }

    async fn a_member_can_leave(store) {
        let alice = team(&store, "Acme", "alice@example.com").await;
        let bob = join(&store, &alice, "bob@example.com", Role::Member).await;
        members::remove_member(&store, &bob, bob.user.id).await.expect("leave");
        assert!(members::teams_of(&store, bob.user.id).await.expect("teams").is_empty());
    }

    async fn another_teams_members_and_invitations_are_out_of_reach(store) {
        let alice = team(&store, "Acme", "alice@example.com").await;
        let zed = team(&store, "Zeta", "zed@example.com").await;
        let zed_friend = join(&store, &zed, "zf@example.com", Role::Member).await;
        let zed_invite = members::invite(&store, &zed, &email("later@example.com"), Role::Member, "http://x.test")
            .await.expect("invite");
        // Alice is not in Zeta: no membership, so no Current to act with…
        let err = members::membership(&store, "zeta", &alice.user).await.expect_err("not hers");
        assert!(matches!(err, Error::NotFound("team")), "{err:?}");
        // …and with her own team's Current, Zeta's people and invitations are not found.
        let err = members::change_role(&store, &alice, zed_friend.user.id, Role::Admin).await.expect_err("foreign");
        assert!(matches!(err, Error::NotFound("member")), "{err:?}");
        let err = members::remove_member(&store, &alice, zed_friend.user.id).await.expect_err("foreign");
        assert!(matches!(err, Error::NotFound("member")), "{err:?}");
        let err = members::revoke_invitation(&store, &alice, zed_invite.id).await.expect_err("foreign");
        assert!(matches!(err, Error::NotFound("invitation")), "{err:?}");
        let listed: Vec<_> = members::list_members(&store, &alice).await.expect("list")
            .into_iter().map(|m| m.email).collect();
        assert_eq!(listed, ["alice@example.com"]);
        assert!(members::open_invitations(&store, &alice).await.expect("open").is_empty());
        assert_eq!(members::list_members(&store, &zed).await.expect("zeta").len(), 2);
    }

    async fn bad_team_names_and_roles_are_refused(store) {
        let user = person(&store, "kim@example.com").await;
        assert!(AccountName::parse("").is_err());
        assert!(AccountName::parse(&"x".repeat(81)).is_err());
        let err = Role::parse("superuser").expect_err("no such role");
        assert!(matches!(err, Error::Invalid { field: "role", .. }), "{err:?}");
        let name = AccountName::parse("Sign in").expect("valid");
        let team = members::create_team(&store, name, &user).await.expect("create");
        assert_eq!(team.slug, "sign-in-team", "reserved paths are not team slugs");
    }
}

mod races {
    use super::*;

    chronicle::engine_tests! {
        async fn a_revoke_that_reported_success_is_never_followed_by_the_person_joining(store) {
            let alice = team(&store, "Acme", "alice@example.com").await;
            for round in 0..12 {
                let address = format!("guest{round}@example.com");
                let invitation = members::invite(&store, &alice, &email(&address), Role::Member, "http://x.test")
                    .await.expect("invite");
                let guest = person(&store, &address).await;
                let (s1, s2, a) = (store.clone(), store.clone(), alice.clone());
                let g = guest.clone();
                let accept = tokio::spawn(async move {
                    members::accept_invitation(&s1, &g, invitation.account_id, invitation.id).await
                });
                let revoke = tokio::spawn(async move {
                    members::revoke_invitation(&s2, &a, invitation.id).await
                });
                let accepted = accept.await.expect("accept task");
                let revoked = revoke.await.expect("revoke task");
                let joined = members::membership(&store, "acme", &guest).await.is_ok();
                assert!(accepted.is_ok() != revoked.is_ok(), "round {round}: exactly one wins: {accepted:?} / {revoked:?}");
                assert_eq!(joined, accepted.is_ok(), "round {round}: joined only when the accept won");
                if let Err(e) = revoked {
                    assert!(e.to_string().contains("already been accepted"), "round {round}: {e}");
                }
            }
        }
    }
}
