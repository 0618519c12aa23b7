//! The token service on PostgreSQL: what only a shared, durable store can show.
//!
//! - Cross-instance revocation: two `Identity` instances, each on its own `PostgresStore` (its
//!   own pool) over one schema; a global sign-out through one is seen by the other's live
//!   verification within the revocation poll interval (1 s), in real time, through the store's
//!   revocation feed.
//! - Reuse detection and used authorization codes survive reopening the store: everything is
//!   dropped and a new store and `Identity` are opened on the same schema.
//!
//! Runs when built with `--features postgres` and `IDCORE_TEST_POSTGRES_URL` names a database
//! (`postgres://postgres@127.0.0.1:5432/test`); otherwise every test passes without doing
//! anything. Without the feature this binary is empty and `tests/conformance_postgres.rs` says
//! once for the whole run that the PostgreSQL tests were skipped; with the feature and no URL,
//! each binary says it once. Each test works in a fresh, migrated schema
//! (`idcore_test_<time>_<pid>_tokens<n>`) and drops it at its end; a schema left by a failed run
//! is dropped by the next run of `tests/conformance_postgres.rs`.

#[cfg(feature = "postgres")]
mod pg_schema;

#[cfg(feature = "postgres")]
mod postgres {
    use std::time::{Duration, Instant};

    use idcore::clock::SystemClock;
    use idcore::directory::{ClientId, OrgDomain, UserId};
    use idcore::store::postgres::PostgresStore;
    use idcore::tokens::keys::EncryptionKey;
    use idcore::tokens::pkce::CodeChallenge;
    use idcore::tokens::{ClientAuth, CodeRequest};
    use idcore::{
        ApplicationScope, ApplicationType, Environment, Error, Identity, NewApplication,
        NewOrganization, NewUser, TokenProblem,
    };
    use time::OffsetDateTime;

    use super::pg_schema::PgSchema;

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const REDIRECT: &str = "https://app.example.com/callback";

    /// A new `Identity` (a process of the deployment) on a new store on `schema`.
    fn instance(schema: &PgSchema) -> Identity<PostgresStore> {
        Identity::builder()
            .issuer("https://auth.example.com")
            .environment(Environment::Sandbox)
            .clock(SystemClock)
            // Every instance of a deployment shares the key-encryption key.
            .key_encryption_key(EncryptionKey::from_bytes(&[7; 32]).expect("32 bytes"))
            .store(schema.open())
            .build()
            .expect("a valid configuration")
    }

    /// An organization, a public client and a user, created through one instance.
    struct Tenant {
        org: OrgDomain,
        client: ClientId,
        user_id: UserId,
    }

    impl Tenant {
        async fn create(identity: &Identity<PostgresStore>) -> Self {
            let org = identity
                .organizations()
                .create(NewOrganization::new("Misapret").unwrap())
                .await
                .unwrap()
                .domain;
            let app = identity
                .applications(ApplicationScope::Organization(org.clone()))
                .create(
                    NewApplication::new("Bank", ApplicationType::React)
                        .unwrap()
                        .with(|a| a.allowed_redirect_urls(&[REDIRECT]))
                        .unwrap(),
                )
                .await
                .unwrap();
            let user = identity
                .users(&org)
                .create(NewUser::new("janis.joplin@example.com").unwrap())
                .await
                .unwrap();
            Self {
                org,
                client: app.application.client_id,
                user_id: user.id,
            }
        }

        fn auth(&self) -> ClientAuth {
            ClientAuth::public(self.client)
        }

        /// A fresh authorization code for the user.
        async fn code(&self, identity: &Identity<PostgresStore>) -> String {
            let code = identity
                .tokens()
                .mint_code(CodeRequest {
                    org: self.org.clone(),
                    user_id: self.user_id,
                    client_id: self.client,
                    redirect_uri: REDIRECT.to_owned(),
                    code_challenge: CodeChallenge::s256(VERIFIER).unwrap(),
                    nonce: None,
                    state: None,
                    scope: vec!["openid".to_owned()],
                    auth_time: OffsetDateTime::now_utc(),
                    amr: vec!["pwd".to_owned()],
                })
                .await
                .unwrap();
            code.expose().to_owned()
        }
    }

    fn invalid_token(result: Result<impl std::fmt::Debug, Error>) -> TokenProblem {
        match result {
            Err(Error::InvalidToken(p)) => p,
            other => panic!("expected invalid_token, got {other:?}"),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn global_sign_out_on_one_instance_is_seen_by_another_within_a_second() {
        let Some(schema) = PgSchema::fresh("tokens").await else {
            return;
        };
        let a = instance(&schema);
        let b = instance(&schema);
        let tenant = Tenant::create(&a).await;
        let code = tenant.code(&a).await;
        let set = a
            .tokens()
            .exchange_code(&tenant.auth(), &code, REDIRECT, VERIFIER)
            .await
            .unwrap();
        // B verifies the token live (and so has just caught up with the feed) before A revokes.
        b.tokens().verify_live(&set.access_token).await.unwrap();

        a.tokens()
            .global_sign_out(&tenant.org, tenant.user_id)
            .await
            .unwrap();
        let revoked_at = Instant::now();
        assert_eq!(
            invalid_token(a.tokens().verify_live(&set.access_token).await),
            TokenProblem::Revoked,
            "the revoking instance knows at once"
        );
        let seen_after = loop {
            match b.tokens().verify_live(&set.access_token).await {
                Ok(_) => {}
                Err(Error::InvalidToken(TokenProblem::Revoked)) => break revoked_at.elapsed(),
                Err(e) => panic!("instance B failed to verify: {e:?}"),
            }
            assert!(
                revoked_at.elapsed() < Duration::from_secs(3),
                "instance B still accepts the token 3 s after the sign-out"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(
            seen_after <= Duration::from_millis(1200),
            "instance B saw the revocation only after {seen_after:?}"
        );
        // Refresh tokens are revoked in the store itself: B refuses them at once.
        let r = b
            .tokens()
            .refresh(&tenant.auth(), set.refresh_token.expose(), None)
            .await;
        assert!(matches!(r, Err(Error::InvalidGrant)), "{r:?}");
        drop((a, b));
        schema.drop_schema().await;
    }

    /// An instance that polls the feed only once a minute.
    fn slow_polling(store: PostgresStore) -> Identity<PostgresStore> {
        Identity::builder()
            .issuer("https://auth.example.com")
            .environment(Environment::Sandbox)
            .clock(SystemClock)
            .key_encryption_key(EncryptionKey::from_bytes(&[7; 32]).expect("32 bytes"))
            .token_settings(idcore::TokenSettings {
                revocation_poll_interval: time::Duration::minutes(1),
                revocation_max_staleness: time::Duration::minutes(2),
                ..idcore::TokenSettings::default()
            })
            .store(store)
            .build()
            .expect("a valid configuration")
    }

    /// LISTEN/NOTIFY: with a one-minute poll, an instance that listens sees another
    /// instance's global sign-out within milliseconds; one that does not still accepts the
    /// token a second later (it waits for its poll).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_listening_instance_sees_another_instances_revocation_within_milliseconds() {
        let Some(schema) = PgSchema::fresh("tokens").await else {
            return;
        };
        let a = instance(&schema);
        let listening_store = schema.open();
        let listener = listening_store.listen_for_revocations(
            schema.pg_config(),
            idcore::store::postgres::tokio_postgres::NoTls,
        );
        let b = slow_polling(listening_store);
        let c = slow_polling(schema.open());
        let started = Instant::now();
        while !listener.is_listening() {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "the listener connects"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let tenant = Tenant::create(&a).await;
        let code = tenant.code(&a).await;
        let set = a
            .tokens()
            .exchange_code(&tenant.auth(), &code, REDIRECT, VERIFIER)
            .await
            .unwrap();
        b.tokens().verify_live(&set.access_token).await.unwrap();
        c.tokens().verify_live(&set.access_token).await.unwrap();

        a.tokens()
            .global_sign_out(&tenant.org, tenant.user_id)
            .await
            .unwrap();
        let revoked_at = Instant::now();
        let seen_after = loop {
            match b.tokens().verify_live(&set.access_token).await {
                Ok(_) => {}
                Err(Error::InvalidToken(TokenProblem::Revoked)) => break revoked_at.elapsed(),
                Err(e) => panic!("instance B failed to verify: {e:?}"),
            }
            assert!(
                revoked_at.elapsed() < Duration::from_secs(2),
                "the listening instance still accepts the token 2 s after the sign-out"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        println!("the listening instance saw the revocation after {seen_after:?}");
        assert!(seen_after < Duration::from_millis(500), "{seen_after:?}");
        // The instance that does not listen waits for its poll.
        tokio::time::sleep(Duration::from_secs(1)).await;
        c.tokens().verify_live(&set.access_token).await.unwrap();
        // Stopping the listener puts B back on the poll.
        drop(listener);
        drop((a, b, c));
        schema.drop_schema().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn refresh_token_reuse_is_detected_after_reopening_the_store() {
        let Some(schema) = PgSchema::fresh("tokens").await else {
            return;
        };
        let (tenant, first, second) = {
            let before = instance(&schema);
            let tenant = Tenant::create(&before).await;
            let code = tenant.code(&before).await;
            let tokens = before.tokens();
            let first = tokens
                .exchange_code(&tenant.auth(), &code, REDIRECT, VERIFIER)
                .await
                .unwrap();
            let second = tokens
                .refresh(&tenant.auth(), first.refresh_token.expose(), None)
                .await
                .unwrap();
            tokens.verify_live(&second.access_token).await.unwrap();
            (tenant, first, second)
            // The instance, its store and its pool are dropped here: the process "restarts".
        };

        let after = instance(&schema);
        after
            .tokens()
            .verify_live(&second.access_token)
            .await
            .unwrap();
        let replay = after
            .tokens()
            .refresh(&tenant.auth(), first.refresh_token.expose(), None)
            .await;
        assert!(matches!(replay, Err(Error::InvalidGrant)), "{replay:?}");
        assert_eq!(
            invalid_token(after.tokens().verify_live(&second.access_token).await),
            TokenProblem::Revoked,
            "the replay was detected as reuse: the rotated family is revoked"
        );
        let r = after
            .tokens()
            .refresh(&tenant.auth(), second.refresh_token.expose(), None)
            .await;
        assert!(matches!(r, Err(Error::InvalidGrant)), "{r:?}");
        // The family's revocation is in the durable feed: yet another instance sees it at once.
        let third = instance(&schema);
        assert_eq!(
            invalid_token(third.tokens().verify_live(&second.access_token).await),
            TokenProblem::Revoked
        );
        drop((after, third));
        schema.drop_schema().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_used_authorization_code_stays_used_after_reopening_the_store() {
        let Some(schema) = PgSchema::fresh("tokens").await else {
            return;
        };
        let (tenant, used, unused, first) = {
            let before = instance(&schema);
            let tenant = Tenant::create(&before).await;
            let used = tenant.code(&before).await;
            let unused = tenant.code(&before).await;
            let first = before
                .tokens()
                .exchange_code(&tenant.auth(), &used, REDIRECT, VERIFIER)
                .await
                .unwrap();
            (tenant, used, unused, first)
        };

        let after = instance(&schema);
        let second = after
            .tokens()
            .exchange_code(&tenant.auth(), &used, REDIRECT, VERIFIER)
            .await;
        assert!(matches!(second, Err(Error::InvalidGrant)), "{second:?}");
        // A second redemption (not a forgotten code): the first redemption's tokens are revoked.
        assert_eq!(
            invalid_token(after.tokens().verify_live(&first.access_token).await),
            TokenProblem::Revoked
        );
        let r = after
            .tokens()
            .refresh(&tenant.auth(), first.refresh_token.expose(), None)
            .await;
        assert!(matches!(r, Err(Error::InvalidGrant)), "{r:?}");
        // Codes are not simply lost on reopening: the unused one still works, once.
        let fresh = after
            .tokens()
            .exchange_code(&tenant.auth(), &unused, REDIRECT, VERIFIER)
            .await
            .unwrap();
        after
            .tokens()
            .verify_live(&fresh.access_token)
            .await
            .unwrap();
        drop(after);
        schema.drop_schema().await;
    }
}
