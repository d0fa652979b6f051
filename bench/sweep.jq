# sweep.jq: the ocac sweep as one jq filter (what an admin would write instead).
#
#   jq -c --arg now 2026-11-25T12:00:00Z --slurpfile cfg config.json \
#      -f bench/sweep.jq store.json > swept.json
#
# $cfg[0] is config.toml converted to JSON ({"rules": {...}, "workstreams": {...}}).
# Works with jq 1.6: fromdateiso8601 only takes "...Z" without a fraction, so
# offsets and fractional seconds are parsed here by hand.

# RFC 3339 text -> epoch seconds (number), any offset, optional fraction.
def instant:
  (.[0:19] + "Z" | fromdateiso8601) as $base
  | .[19:] as $rest
  | if ($rest | endswith("Z") or endswith("z")) then
      [$rest[:-1], 0]
    else
      [$rest[:-6],
       ($rest[-6:] | ((.[1:3] | tonumber) * 3600 + (.[4:6] | tonumber) * 60)
                     * (if .[0:1] == "-" then -1 else 1 end))]
    end
  | . as [$frac, $offset]
  | $base + (if $frac == "" then 0 else ("0" + $frac | tonumber) end) - $offset;

# "20m" / "2h" / "1h30m" -> seconds; "never" or null -> null.
def seconds:
  if . == null or . == "never" then null
  else [scan("[0-9]+[smhdw]")
        | (.[:-1] | tonumber) * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[.[-1:]]]
       | add
  end;

# channel -> state -> [threshold, target]; config [rules.<channel>] overrides thresholds.
def rules($cfg):
  {
    "chat":            {"open": ["20m", "closed"], "active": [null, "closed"], "wrap-up": ["15m", "closed"]},
    "voice":           {"open": ["30d", "closed"], "active": ["2h", "wrap-up"], "wrap-up": ["1d", "closed"]},
    "sms":             {"open": ["30d", "closed"], "active": ["30d", "closed"], "wrap-up": ["1d", "closed"]},
    "teams":           {"open": ["30d", "closed"], "active": ["30d", "closed"], "wrap-up": ["1d", "closed"]},
    "social":          {"open": ["30d", "closed"], "active": ["30d", "closed"], "wrap-up": ["1d", "closed"]},
    "persistent-chat": {"open": ["30d", "closed"], "active": [null, "closed"], "wrap-up": ["1d", "closed"]},
    "case":            {"open": [null, "closed"], "active": [null, "closed"], "wrap-up": [null, "closed"]}
  }
  | with_entries(.key as $channel
      | .value |= with_entries(.key as $state
          | .value |= [(($cfg.rules[$channel][$state] // .[0]) | seconds), .[1]]));

($now | instant) as $t
| ($t | todate) as $stamp
| (($cfg[0] // {}) as $c
   | {rules: rules($c),
      auto_close: (($c.workstreams // {}) | map_values(.auto_close_after | seconds)),
      deleted: (reduce (.deleted_records // [])[] as $r ({}; .[$r] = true))}) as $ctx
| .conversations |= map(
    if .state == "closed" then .
    else
      (if .state == "waiting" then [$ctx.auto_close[.workstream // ""], "closed"]
       elif .channel == "case" and (.state == "open" or .state == "active")
            and $ctx.deleted[.record_id // ""] then ["record deleted", "closed"]
       else ($ctx.rules[.channel][.state] // [null, "closed"])
       end) as [$after, $target]
      | if $after == "record deleted"
           or ($after != null and ($t - (.modified_on | instant)) > $after)
        then .state = $target | .modified_on = $stamp
        else .
        end
    end)
