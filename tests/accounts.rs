//! Accounts: created with a valid name, listed, found by slug, and refused clearly.

use chronicle::accounts::{self, AccountName};
use chronicle::events::Actor;
use chronicle::Error;

chronicle::engine_tests! {
    async fn a_created_account_is_listed_and_found_by_its_slug(store) {
        let name = AccountName::parse("Acme Design").expect("valid");
        let created = accounts::create_account(&store, name, &Actor::System).await.expect("create");
        assert_eq!(created.slug, "acme-design");

        let listed = accounts::list_accounts(&store).await.expect("list");
        assert_eq!(listed, vec![created.clone()]);

        let found = accounts::find_account_by_slug(&store, "acme-design").await.expect("find");
        assert_eq!(found, created);
    }

    async fn accounts_are_listed_oldest_first(store) {
        for n in ["First", "Second", "Third"] {
            let name = AccountName::parse(n).expect("valid");
            accounts::create_account(&store, name, &Actor::System).await.expect("create");
        }
        let names: Vec<_> = accounts::list_accounts(&store).await.expect("list")
            .into_iter().map(|a| a.name).collect();
        assert_eq!(names, ["First", "Second", "Third"]);
    }

    async fn teams_with_the_same_name_get_numbered_slugs(store) {
        for _ in 0..3 {
            let name = AccountName::parse("Acme").expect("valid");
            accounts::create_account(&store, name, &Actor::System).await.expect("create");
        }
        let slugs: Vec<_> = accounts::list_accounts(&store).await.expect("list")
            .into_iter().map(|a| a.slug).collect();
        assert_eq!(slugs, ["acme", "acme-2", "acme-3"]);
    }

    async fn an_unknown_slug_is_not_found(store) {
        let err = accounts::find_account_by_slug(&store, "nobody").await.expect_err("missing");
        assert!(matches!(err, Error::NotFound("account")), "{err:?}");
    }
}
