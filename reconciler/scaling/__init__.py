"""ScalingPolicy decisions: schedules, ramp-downs, the metric rule and the quota cap."""
