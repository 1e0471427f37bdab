use crate::helpers::{config, counts, generated_files};

#[test]
fn same_seed_and_now_give_byte_identical_files() {
    let config = config(counts(300, 200, 2_000), 5);
    assert!(generated_files(&config) == generated_files(&config));
}

#[test]
fn different_seeds_give_different_files() {
    let [users, events, coupons] = generated_files(&config(counts(300, 200, 2_000), 5));
    let [other_users, other_events, other_coupons] =
        generated_files(&config(counts(300, 200, 2_000), 6));
    assert_ne!(users, other_users);
    assert_ne!(events, other_events);
    assert_ne!(coupons, other_coupons);
}

#[test]
fn more_coupons_extend_the_coupon_file_and_leave_users_and_events_alone() {
    let [users, events, coupons] = generated_files(&config(counts(300, 200, 1_000), 5));
    let [same_users, same_events, more_coupons] =
        generated_files(&config(counts(300, 200, 2_000), 5));
    assert!(users == same_users && events == same_events);
    assert!(more_coupons.len() > coupons.len() && more_coupons.starts_with(&coupons));
}
