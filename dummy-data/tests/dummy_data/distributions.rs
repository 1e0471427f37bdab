//! The data looks like a bookmaker's: skewed where real betting is skewed.

use std::collections::{HashMap, HashSet};

use slipstream_model::Id;

use crate::helpers::MEDIUM;

fn median(mut values: Vec<usize>) -> usize {
    values.sort_unstable();
    values[values.len() / 2]
}

#[test]
fn sports_have_real_mixed_case_names_skewed_sizes_and_several_leagues() {
    let mut sizes: HashMap<&str, usize> = HashMap::new();
    let mut leagues: HashMap<&str, HashSet<&str>> = HashMap::new();
    for event in MEDIUM.events.values() {
        *sizes.entry(&event.sport).or_default() += 1;
        leagues
            .entry(&event.sport)
            .or_default()
            .insert(&event.league);
    }
    assert_eq!(sizes.len(), 10, "{sizes:?}");
    assert!(sizes.contains_key("Football") && sizes.contains_key("Ice Hockey"));
    let (largest, smallest) = (sizes.values().max(), sizes.values().min());
    assert!(largest >= smallest.map(|s| s * 4).as_ref(), "{sizes:?}");
    assert!(leagues.values().all(|l| l.len() >= 2), "{leagues:?}");
}

#[test]
fn the_most_popular_event_draws_many_times_the_median_events_selections() {
    let mut selections: HashMap<Id, usize> = MEDIUM.events.keys().map(|id| (*id, 0)).collect();
    for id in MEDIUM.coupons.iter().flat_map(|c| c.event_ids()) {
        *selections.entry(id).or_default() += 1;
    }
    let top = selections.values().max().copied().unwrap_or(0);
    let median = median(selections.into_values().collect());
    assert!(top >= 10 * median.max(1), "top {top}, median {median}");
}

#[test]
fn most_of_a_users_selections_fall_in_their_top_sport() {
    let mut by_user: HashMap<Id, HashMap<&str, usize>> = HashMap::new();
    for coupon in &MEDIUM.coupons {
        let sports = by_user.entry(coupon.user_id).or_default();
        for id in coupon.event_ids() {
            *sports.entry(MEDIUM.sport_of(id)).or_default() += 1;
        }
    }
    let regulars: Vec<_> = by_user
        .values()
        .filter(|sports| sports.values().sum::<usize>() >= 10)
        .collect();
    let in_top: usize = regulars.iter().filter_map(|s| s.values().max()).sum();
    let all: usize = regulars.iter().map(|s| s.values().sum::<usize>()).sum();
    assert!(in_top * 10 >= all * 6, "{in_top} of {all} in the top sport");
    let top_sports: HashSet<_> = regulars
        .iter()
        .filter_map(|s| s.iter().max_by_key(|(_, n)| **n).map(|(sport, _)| *sport))
        .collect();
    assert!(top_sports.len() >= 5, "favourites vary: {top_sports:?}");
}

#[test]
fn some_users_never_bet_and_a_few_bet_heavily() {
    let mut coupons: HashMap<Id, usize> = MEDIUM
        .users
        .iter()
        .filter_map(|u| u.id)
        .map(|id| (id, 0))
        .collect();
    for coupon in &MEDIUM.coupons {
        *coupons.entry(coupon.user_id).or_default() += 1;
    }
    let mut counts: Vec<usize> = coupons.into_values().collect();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    let cold = counts.iter().filter(|n| **n == 0).count();
    assert!(cold * 20 >= counts.len(), "{cold} users without coupons");
    let top_percent: usize = counts[..counts.len() / 100].iter().sum();
    assert!(
        top_percent * 100 >= MEDIUM.coupons.len() * 8,
        "top 1 % placed {top_percent}"
    );
}

#[test]
fn a_share_of_events_has_not_ended_at_now() {
    let open = MEDIUM
        .events
        .values()
        .filter(|e| e.end_timestamp > MEDIUM.config.now)
        .count();
    let share = open as f64 / MEDIUM.events.len() as f64;
    assert!((0.2..0.5).contains(&share), "{open} not ended");
}

#[test]
fn coupons_hold_mostly_one_to_three_selections_and_about_three_on_average() {
    let sizes: Vec<usize> = MEDIUM.coupons.iter().map(|c| c.selections.len()).collect();
    assert!(sizes.iter().all(|n| (1..=5).contains(n)));
    let up_to_three = sizes.iter().filter(|n| **n <= 3).count();
    assert!(up_to_three * 2 > sizes.len(), "{up_to_three} with 1 to 3");
    let mean = sizes.iter().sum::<usize>() as f64 / sizes.len() as f64;
    assert!((2.5..=3.2).contains(&mean), "mean {mean}");
}

#[test]
fn stakes_are_mostly_small_and_odds_stay_between_1_01_and_20() {
    let stakes: Vec<usize> = MEDIUM
        .coupons
        .iter()
        .map(|c| c.stake.cents() as usize)
        .collect();
    assert!(median(stakes) <= 5_000, "median stake above 50");
    let odds = MEDIUM
        .coupons
        .iter()
        .flat_map(|c| &c.selections)
        .map(|s| s.odds.thousandths());
    assert!(odds.into_iter().all(|o| (1_010..=20_000).contains(&o)));
}

#[test]
fn users_pay_in_their_countrys_currency_and_all_genders_appear() {
    let currencies: HashSet<_> = MEDIUM
        .users
        .iter()
        .map(|u| (u.country.as_str(), u.currency.as_str()))
        .collect();
    assert!(currencies.contains(&("GB", "GBP")) && currencies.contains(&("GR", "EUR")));
    let countries: HashSet<_> = currencies.iter().map(|(country, _)| country).collect();
    assert_eq!(
        countries.len(),
        currencies.len(),
        "one currency per country"
    );
    let genders: HashSet<_> = MEDIUM.users.iter().map(|u| u.gender.as_str()).collect();
    assert_eq!(genders.len(), 3);
}
