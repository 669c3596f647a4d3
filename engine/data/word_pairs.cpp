#include "engine/data/word_pairs.hpp"

namespace troupe {

// Criterion: both words share an obvious category (weekdays, months, small
// numbers, kin and gender counterparts, colours, countries and continents,
// compass points, seasons and times of day, antonym adjectives, honorifics)
// or are forms of one verb (present/past), and each occurs at least 20 times
// in the Brown corpus, so that a min_count of 5 keeps it even after the
// held-out split. Written for this check, not taken from a benchmark.
const std::vector<std::pair<std::string, std::string>>& related_word_pairs() {
  static const std::vector<std::pair<std::string, std::string>> pairs = {
      // days of the week
      {"monday", "tuesday"},
      {"tuesday", "wednesday"},
      {"wednesday", "thursday"},
      {"thursday", "friday"},
      {"friday", "saturday"},
      {"saturday", "sunday"},
      {"sunday", "monday"},
      // months
      {"january", "february"},
      {"march", "april"},
      {"june", "july"},
      {"august", "september"},
      {"october", "november"},
      {"november", "december"},
      {"december", "january"},
      // numbers
      {"two", "three"},
      {"three", "four"},
      {"four", "five"},
      {"five", "six"},
      {"six", "seven"},
      {"seven", "eight"},
      {"eight", "nine"},
      {"nine", "ten"},
      {"ten", "twenty"},
      // people: gender and kin counterparts
      {"man", "woman"},
      {"men", "women"},
      {"husband", "wife"},
      {"father", "mother"},
      {"son", "daughter"},
      {"brother", "sister"},
      {"boy", "girl"},
      {"boys", "girls"},
      {"king", "queen"},
      {"uncle", "aunt"},
      {"mr.", "mrs."},
      // colours
      {"red", "blue"},
      {"white", "black"},
      {"green", "yellow"},
      {"brown", "gray"},
      {"blue", "green"},
      // countries and continents
      {"france", "germany"},
      {"england", "france"},
      {"russia", "china"},
      {"italy", "france"},
      {"japan", "china"},
      {"europe", "asia"},
      // verb forms
      {"say", "said"},
      {"go", "went"},
      {"take", "took"},
      {"come", "came"},
      {"see", "saw"},
      {"know", "knew"},
      {"think", "thought"},
      {"give", "gave"},
      {"get", "got"},
      {"make", "made"},
      // directions, times, seasons, measures
      {"north", "south"},
      {"east", "west"},
      {"morning", "evening"},
      {"summer", "winter"},
      {"week", "month"},
      {"dollars", "cents"},
      {"army", "navy"},
      {"city", "town"},
      // adjectives
      {"hot", "cold"},
      {"good", "bad"},
      {"large", "small"},
      {"big", "little"},
  };
  return pairs;
}

}  // namespace troupe
