//! What every conformance test file shares.

/// Generates `sqlite::NAME` and `postgres::NAME` for each listed `async fn NAME(Arc<dyn Store>)`:
/// every test runs against both backends, each on a fresh database.
#[macro_export]
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = mesher_store::testing::TestDb::sqlite().await;
                    super::$name(db.store()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = mesher_store::testing::TestDb::postgres().await;
                    super::$name(db.store()).await;
                }
            )*
        }
    };
}
