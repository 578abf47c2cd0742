-- One database per service: services share nothing but Kafka topics.
CREATE DATABASE enrolment;
CREATE DATABASE billing;
CREATE DATABASE certification;
