//! Users, and what coupons later need to know about each of them: when they registered,
//! which sports they lean to, and how much they bet.

use anyhow::{Context, Result};
use chrono::{DateTime, Datelike, TimeDelta, Utc};
use rand::distr::weighted::WeightedIndex;
use rand::distr::Distribution;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use slipstream_model::{Country, Currency, Gender, Id, User};

use super::pick;
use super::sports::SPORTS;

/// The oldest users were born this year (unless `now` is so early that adults are younger).
const OLDEST_BIRTH_YEAR: i32 = 1940;
/// Users registered up to this long before `now`, and at least an hour before it.
const REGISTRATION_WINDOW: TimeDelta = TimeDelta::days(8 * 365);

/// Mostly Greek and British customers, as the original platform had, then the rest of the
/// world; every currency is the one used in that country.
const COUNTRIES: &[(u32, (&str, &str))] = &[
    (14, ("GR", "EUR")),
    (12, ("GB", "GBP")),
    (8, ("DE", "EUR")),
    (6, ("ES", "EUR")),
    (6, ("IT", "EUR")),
    (5, ("FR", "EUR")),
    (3, ("NL", "EUR")),
    (3, ("CY", "EUR")),
    (2, ("PT", "EUR")),
    (2, ("IE", "EUR")),
    (2, ("AT", "EUR")),
    (2, ("BE", "EUR")),
    (2, ("SE", "SEK")),
    (1, ("NO", "NOK")),
    (1, ("DK", "DKK")),
    (3, ("PL", "PLN")),
    (1, ("CZ", "CZK")),
    (3, ("RO", "RON")),
    (1, ("HU", "HUF")),
    (1, ("CH", "CHF")),
    (2, ("TR", "TRY")),
    (6, ("US", "USD")),
    (2, ("CA", "CAD")),
    (3, ("BR", "BRL")),
    (1, ("MX", "MXN")),
    (1, ("AR", "ARS")),
    (1, ("JP", "JPY")),
    (1, ("KR", "KRW")),
    (2, ("AU", "AUD")),
    (2, ("IN", "INR")),
    (1, ("ZA", "ZAR")),
    (2, ("NG", "NGN")),
    (1, ("KE", "KES")),
];

/// Betting customers are mostly men; `X` is rare but must appear.
const GENDERS: &[(u32, Gender)] = &[(70, Gender::Male), (27, Gender::Female), (3, Gender::Other)];

/// Share of users (percent) and their weight when coupons pick a bettor: one in ten never
/// bets (the recommender's cold start) and one in a hundred bets sixty times as often as a
/// casual user.
const ACTIVITY: &[(u32, u32)] = &[(10, 0), (50, 1), (29, 4), (10, 15), (1, 60)];

/// How many favourite sports a user has.
const FAVOURITE_COUNTS: &[(u32, usize)] = &[(50, 1), (35, 2), (15, 3)];

/// What coupon generation needs to know about a user once the user is written.
pub struct Bettor {
    pub registered: DateTime<Utc>,
    pub favourites: Favourites,
    /// Relative share of all coupons; 0 for a user who never bets.
    pub activity: u32,
}

/// One to three sports (indexes into [`SPORTS`]), the first the one the user bets on most.
pub struct Favourites {
    sports: [usize; 3],
    len: usize,
}

impl Favourites {
    /// How a user's favourite-sport bets split between one, two or three favourites (percent).
    const SHARES: [[u32; 3]; 3] = [[100, 0, 0], [75, 25, 0], [65, 22, 13]];

    pub fn pick(&self, rng: &mut ChaCha8Rng) -> usize {
        let shares = Self::SHARES[self.len - 1];
        pick(
            rng,
            &std::array::from_fn::<_, 3, _>(|i| (shares[i], self.sports[i])),
        )
    }
}

/// Draws `count` users with ids 1..=count, with the bettor profile of each.
pub fn generate(
    rng: &mut ChaCha8Rng,
    count: u32,
    now: DateTime<Utc>,
) -> Result<(Vec<User>, Vec<Bettor>)> {
    let locales = locales()?;
    let countries = WeightedIndex::new(COUNTRIES.iter().map(|(weight, _)| *weight))
        .context("Failed to weigh countries")?;
    let sports =
        WeightedIndex::new(SPORTS.iter().map(|s| s.weight)).context("Failed to weigh sports")?;
    let mut users = Vec::with_capacity(count as usize);
    let mut bettors = Vec::with_capacity(count as usize);
    for id in 1..=count {
        let (country, currency) = locales[countries.sample(rng)];
        let registered = now - random_seconds(rng, REGISTRATION_WINDOW);
        users.push(User {
            id: Some(Id::from(id)),
            birth_year: birth_year(rng, now),
            country,
            currency,
            gender: pick(rng, GENDERS),
            registration_date: Some(registered),
        });
        bettors.push(Bettor {
            registered,
            favourites: favourites(rng, &sports),
            activity: pick(rng, ACTIVITY),
        });
    }
    Ok((users, bettors))
}

fn locales() -> Result<Vec<(Country, Currency)>> {
    COUNTRIES
        .iter()
        .map(|(_, (country, currency))| {
            let country = Country::parse(country).map_err(anyhow::Error::msg)?;
            let currency = Currency::parse(currency).map_err(anyhow::Error::msg)?;
            Ok((country, currency))
        })
        .collect::<Result<_>>()
        .context("Failed to parse the country table")
}

/// Adults only, and younger ones more often: the smaller of two uniform ages skews the
/// distribution towards 18 without a hard cut-off.
fn birth_year(rng: &mut ChaCha8Rng, now: DateTime<Utc>) -> i32 {
    let youngest = now.year() - 18;
    let span = youngest - OLDEST_BIRTH_YEAR.min(youngest);
    youngest - rng.random_range(0..=span).min(rng.random_range(0..=span))
}

/// A whole number of seconds between one hour and `window`.
fn random_seconds(rng: &mut ChaCha8Rng, window: TimeDelta) -> TimeDelta {
    TimeDelta::seconds(rng.random_range(3_600..=window.num_seconds().max(3_600)))
}

/// Distinct sports, drawn by the sports' sizes, so football fans outnumber handball fans.
fn favourites(rng: &mut ChaCha8Rng, sports: &WeightedIndex<u32>) -> Favourites {
    let wanted = pick(rng, FAVOURITE_COUNTS).min(SPORTS.len());
    let mut favourites = Favourites {
        sports: [0; 3],
        len: 0,
    };
    while favourites.len < wanted {
        let sport = sports.sample(rng);
        if !favourites.sports[..favourites.len].contains(&sport) {
            favourites.sports[favourites.len] = sport;
            favourites.len += 1;
        }
    }
    favourites
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_country_has_an_active_currency() {
        assert_eq!(locales().map(|l| l.len()).ok(), Some(COUNTRIES.len()));
    }

    #[test]
    fn favourite_shares_add_up_to_a_hundred() {
        for shares in Favourites::SHARES {
            assert_eq!(shares.iter().sum::<u32>(), 100);
            assert!(shares.windows(2).all(|w| w[0] >= w[1]), "the first leads");
        }
    }
}
